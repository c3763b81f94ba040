package libmemcached_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDevelopmentLayout keeps the layout tables of docs/development.md
// true to the tree: every non-test .go, .c and .h file of the package root
// is listed once, and every file or folder ("name/") the tables name
// exists.
func TestDevelopmentLayout(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("docs", "development.md"))
	require.NoError(t, err)
	named := layoutNames(t, string(doc))
	require.NotEmpty(t, named, "no table in the Layout section")

	listed := map[string]int{}
	for _, name := range named {
		listed[name]++
		if dir, ok := strings.CutSuffix(name, "/"); ok {
			st, err := os.Stat(dir)
			if assert.NoError(t, err, "the Layout section names %s", name) {
				assert.True(t, st.IsDir(), "%s is not a folder", name)
			}
			continue
		}
		st, err := os.Stat(name)
		if assert.NoError(t, err, "the Layout section names %s", name) {
			assert.False(t, st.IsDir(), "%s is a folder: write it %s/", name, name)
		}
	}

	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, "_test.go") {
			continue
		}
		switch filepath.Ext(name) {
		case ".go", ".c", ".h":
			assert.Equal(t, 1, listed[name], "%s is listed once in docs/development.md's Layout table", name)
		}
	}
}

// layoutNames returns the names written in code in the first column of the
// tables of the "## Layout" section.
func layoutNames(t *testing.T, doc string) []string {
	_, section, ok := strings.Cut(doc, "\n## Layout\n")
	require.True(t, ok, "docs/development.md has no Layout section")
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	code := regexp.MustCompile("`([^`]+)`")
	var names []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
	}
	return names
}

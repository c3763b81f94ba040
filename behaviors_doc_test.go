package libmemcached

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// behaviorDocRow is the row of docs/behaviors.md's table for bi: name,
// constant, values accepted, meaning.
func behaviorDocRow(bi behaviorInfo) string {
	var values string
	switch {
	case bi.kind == valueHash:
		values = "hash name"
	case bi.kind == valueDistribution:
		values = "distribution name"
	case bi.kind == valueBool && bi.max == 0:
		values = "false only"
	case bi.kind == valueBool:
		values = "bool"
	default:
		values = fmt.Sprintf("%d to %d", bi.min, bi.max)
	}
	return fmt.Sprintf("| `%s` | `%s` | %s | %s |", bi.name, bi.b, values, bi.doc)
}

// TestBehaviorsDoc: the table in docs/behaviors.md is the behavior table
// the code uses, row for row (names, constants, accepted values, meaning).
// GOLIBMC_PRINT_BEHAVIORS=1 prints the rows to paste.
func TestBehaviorsDoc(t *testing.T) {
	var want []string
	for _, bi := range behaviorTable {
		want = append(want, behaviorDocRow(bi))
	}
	if os.Getenv("GOLIBMC_PRINT_BEHAVIORS") == "1" {
		fmt.Println(strings.Join(want, "\n"))
	}
	doc, err := os.ReadFile("docs/behaviors.md")
	require.NoError(t, err)
	var got []string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "| `") {
			got = append(got, l)
		}
	}
	require.Empty(t, cmp.Diff(want, got), "docs/behaviors.md's table differs from behaviorTable (GOLIBMC_PRINT_BEHAVIORS=1 go test -run TestBehaviorsDoc prints it)")
}

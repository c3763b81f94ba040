package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// startup renders the start-up section: BenchmarkNew (New with 10 and
// 100 servers, alone and then with every handle of a pool of 8 or 64
// cloned) next to the C reference bench/cstartup wrote (one
// memcached_create, one memcached_server_push, one behavior set), medians
// in ms.
func startup(gobench, cstartup string) string {
	if gobench == "" || cstartup == "" {
		return ""
	}
	cref, err := readCStartup(cstartup)
	if err != nil {
		return "\n## Start-up\n\nnot measured: " + err.Error() + "\n"
	}
	goNs, err := readBenchNs(gobench, "BenchmarkNew/")
	if err != nil {
		return "\n## Start-up\n\nnot measured: " + err.Error() + "\n"
	}
	var b strings.Builder
	b.WriteString("\n## Start-up (`New`, nothing connects; ms, median)\n\n" +
		"C: one `memcached_create`, one `memcached_server_push` of the servers and one behavior set " +
		"(`bench/cstartup`). New + pool: `New`, then every handle of the pool cloned, as the first " +
		"concurrent calls clone them (`BenchmarkNew`).\n\n" +
		"| servers | distribution | C | New | New ÷ C | New + pool 8 | New + pool 64 | target |\n|---:|---|---:|---:|---:|---:|---:|---|\n")
	keys := make([]string, 0, len(cref))
	for k := range cref {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ni, _ := strconv.Atoi(strings.Fields(keys[i])[0])
		nj, _ := strconv.Atoi(strings.Fields(keys[j])[0])
		return ni < nj || ni == nj && keys[i] < keys[j]
	})
	ms := func(ns float64) string {
		if ns == 0 {
			return ""
		}
		return fmt.Sprintf("%.3f", ns/1e6)
	}
	for _, k := range keys {
		f := strings.Fields(k) // servers, distribution
		base := fmt.Sprintf("servers=%s/%s", f[0], f[1])
		c, n := cref[k], goNs[base]
		ratio, target := "", ""
		if c > 0 && n > 0 {
			ratio = fmt.Sprintf("%.2f×", n/c)
			if f[0] == "100" && f[1] != "modula" {
				target = verdict(n <= 2*c, "≤ 2× C")
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f[0], f[1], ms(c), ms(n), ratio,
			ms(goNs[base+"/pool=8"]), ms(goNs[base+"/pool=64"]), target)
	}
	return b.String()
}

// readCStartup reads bench/cstartup's lines "<servers> <distribution> <median_ns>".
func readCStartup(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 3 {
			v, err := strconv.ParseFloat(fs[2], 64)
			if err == nil {
				out[fs[0]+" "+fs[1]] = v
			}
		}
	}
	return out, sc.Err()
}

// readBenchNs reads the median ns/op of every benchmark named prefix...
// in go test -bench output, by name without prefix's "Benchmark...\/" and
// the -GOMAXPROCS suffix.
func readBenchNs(path, prefix string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || !strings.HasPrefix(fs[0], prefix) || fs[3] != "ns/op" {
			continue
		}
		name := strings.TrimPrefix(fs[0], prefix)
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(fs[2], 64)
		if err == nil {
			all[name] = append(all[name], v)
		}
	}
	out := map[string]float64{}
	for k, v := range all {
		out[k] = median(v)
	}
	return out, sc.Err()
}

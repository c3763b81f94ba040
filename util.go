package libmemcached

import "strconv"

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// enumName is the String method of the generated enum types: names holds
// every value's name back to back, and ends[v] where the name of v ends.
func enumName(typ, names string, ends []uint16, v int64) string {
	if v < 0 || v >= int64(len(ends)) || (v > 0 && ends[v] == ends[v-1]) || ends[v] == 0 {
		return typ + "(" + itoa(v) + ")"
	}
	start := uint16(0)
	if v > 0 {
		start = ends[v-1]
	}
	return names[start:ends[v]]
}

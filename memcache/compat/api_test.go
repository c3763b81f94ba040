package compat

import (
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// additions are what the memcache package has beyond gomemcache's API, on
// purpose. Each keeps every program written against gomemcache compiling
// and behaving the same: a new field of Client (gomemcache's Client has
// unexported fields, so no program builds one without field names), left
// at its zero value.
var additions = map[string]string{
	"field Client.Observer github.com/golibmc/libmemcached.Observer (embedded false)": "the client's observer hooks (issue 24)",
}

// TestExportedAPI type-checks both packages from source and compares every
// exported identifier: constants (type and value), variables (type),
// functions (signature), and types (kind, exported fields in order, and the
// exported methods of T and *T with their signatures), allowing only the
// listed additions. Doc comments and initializer expressions are not part
// of it.
func TestExportedAPI(t *testing.T) {
	theirs := exportedAPI(t, "github.com/bradfitz/gomemcache/memcache")
	var ours []string
	found := 0
	for _, d := range exportedAPI(t, "github.com/golibmc/libmemcached/memcache") {
		if _, ok := additions[d]; ok {
			found++
			continue
		}
		ours = append(ours, d)
	}
	if found != len(additions) {
		t.Errorf("%d of the %d listed additions are in the package: update the list", found, len(additions))
	}
	if d := cmp.Diff(theirs, ours); d != "" {
		t.Errorf("exported API differs from gomemcache's (-gomemcache +memcache):\n%s", d)
	}
	t.Logf("%d exported identifiers, fields and methods compared", len(ours))
}

// exportedAPI lists a package's exported declarations, one string each,
// with the package's own types unqualified.
func exportedAPI(t *testing.T, path string) []string {
	t.Helper()
	pkg, err := importer.ForCompiler(token.NewFileSet(), "source", nil).Import(path)
	if err != nil {
		t.Fatalf("type-checking %s: %v", path, err)
	}
	qual := func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		return p.Path()
	}
	str := func(typ types.Type) string { return types.TypeString(typ, qual) }
	var out []string
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch o := obj.(type) {
		case *types.Const:
			out = append(out, fmt.Sprintf("const %s %s = %s", name, str(o.Type()), o.Val().ExactString()))
		case *types.Var:
			out = append(out, fmt.Sprintf("var %s %s", name, str(o.Type())))
		case *types.Func:
			out = append(out, fmt.Sprintf("func %s%s", name, signature(o, qual)))
		case *types.TypeName:
			out = append(out, typeAPI(o, qual)...)
		default:
			t.Fatalf("%s: unexpected object %T", name, obj)
		}
	}
	return out
}

// typeAPI describes a named type: its kind, exported fields in order (or
// interface methods), and the exported methods of T and *T.
func typeAPI(o *types.TypeName, qual types.Qualifier) []string {
	name := o.Name()
	var out []string
	switch u := o.Type().Underlying().(type) {
	case *types.Struct:
		out = append(out, "type "+name+" struct")
		for i := 0; i < u.NumFields(); i++ {
			if f := u.Field(i); f.Exported() {
				out = append(out, fmt.Sprintf("field %s.%s %s (embedded %v)", name, f.Name(), types.TypeString(f.Type(), qual), f.Embedded()))
			}
		}
	case *types.Interface:
		out = append(out, "type "+name+" interface")
		for i := 0; i < u.NumMethods(); i++ {
			m := u.Method(i)
			out = append(out, fmt.Sprintf("interface method %s.%s%s", name, m.Name(), signature(m, qual)))
		}
	default:
		out = append(out, fmt.Sprintf("type %s %s", name, types.TypeString(u, qual)))
	}
	for _, recv := range []types.Type{o.Type(), types.NewPointer(o.Type())} {
		ms := types.NewMethodSet(recv)
		var lines []string
		for i := 0; i < ms.Len(); i++ {
			if m := ms.At(i).Obj(); m.Exported() {
				lines = append(lines, fmt.Sprintf("method (%s) %s%s", types.TypeString(recv, qual), m.Name(), signature(m.(*types.Func), qual)))
			}
		}
		sort.Strings(lines)
		out = append(out, lines...)
	}
	return out
}

// signature is a function's signature without its receiver.
func signature(f *types.Func, qual types.Qualifier) string {
	sig := f.Type().(*types.Signature)
	return types.TypeString(types.NewSignatureType(nil, nil, nil, sig.Params(), sig.Results(), sig.Variadic()), qual)[len("func"):]
}

package libmemcached

// constants_gen.go and internal/cenum/cenum_gen.go are generated from the
// installed libmemcached headers; `go generate ./...` or `make generate`
// rewrites them.

//go:generate go run ./cmd/genconst

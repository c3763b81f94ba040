module github.com/golibmc/libmemcached

// The oldest Go the module builds and vets with (docs/development.md, "The
// Go version"); its own tests and commands keep the runtime defaults of the
// toolchain they are run with in CI.
go 1.23

godebug default=go1.26

toolchain go1.26.8

require (
	github.com/google/go-cmp v0.7.0
	github.com/stretchr/testify v1.12.1
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

// Command nocgo checks the build without cgo (make variants runs it with
// CGO_ENABLED=0): a program importing the package compiles, and New and
// NewFromConfig fail with ErrNotSupported saying why.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	mc "github.com/golibmc/libmemcached"
)

func main() {
	_, err1 := mc.New([]string{"127.0.0.1:11211"})
	_, err2 := mc.NewFromConfig("--SERVER=127.0.0.1:11211")
	for _, err := range []error{err1, err2} {
		if !errors.Is(err, mc.ErrNotSupported) || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			fmt.Fprintln(os.Stderr, "nocgo: want ErrNotSupported naming CGO_ENABLED=0, got:", err)
			os.Exit(1)
		}
	}
	fmt.Println("nocgo: builds without cgo; New says:", err1)
}

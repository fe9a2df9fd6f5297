// Command quiescevet reports misuses of the quiesce library: self-waits,
// lost Refs and early Handles (see package quiescevet for the rules).
//
// Run it on its own, from a module that uses quiesce:
//
//	quiescevet ./...
//	quiescevet -test=false ./...   # leave out _test.go files
//	quiescevet -C dir ./...        # from dir, as go -C does
//
// or through go vet, which also analyzes test files:
//
//	go vet -vettool=$(go env GOPATH)/bin/quiescevet ./...
//
// On its own it exits with status 3 when it reports something and 1 on
// other errors; go vet exits with status 1 in both cases.
package main

import (
	"log"
	"os"

	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/quiesce/quiesce/vet/quiescevet"
)

func main() {
	// -C dir, first, changes directory before anything else, as for the
	// go command, so that `go run ./cmd/quiescevet -C .. ./...` checks
	// another module than the one go run builds in: package patterns
	// are resolved by go list in the current directory's module. It is
	// not a flag of the flag package on purpose: go vet asks a vet tool
	// for its flags (-flags) and would then offer its own -C to it.
	if len(os.Args) > 2 && os.Args[1] == "-C" {
		if err := os.Chdir(os.Args[2]); err != nil {
			log.Fatalf("quiescevet: -C: %v", err)
		}
		os.Args = append(os.Args[:1], os.Args[3:]...)
	}
	singlechecker.Main(quiescevet.Analyzer)
}

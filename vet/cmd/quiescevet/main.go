// Command quiescevet reports misuses of the quiesce library: self-waits,
// lost Refs and early Handles (see package quiescevet for the rules).
//
// Run it on its own, from a module that uses quiesce:
//
//	quiescevet ./...
//	quiescevet -test=false ./...   # leave out _test.go files
//
// or through go vet, which also analyzes test files:
//
//	go vet -vettool=$(go env GOPATH)/bin/quiescevet ./...
//
// It exits with status 3 when it reports something, 1 on other errors.
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/quiesce/quiesce/vet/quiescevet"
)

func main() { singlechecker.Main(quiescevet.Analyzer) }

package quiescevet_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/quiesce/quiesce/vet/quiescevet"
)

// The testdata packages import stubs of the library's packages
// (testdata/src/github.com/quiesce/quiesce), which
// TestStubsMirrorTheLibrary keeps honest.

func TestListenerSelfWaits(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), quiescevet.Analyzer, "listeners")
}

func TestEarlyHandle(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), quiescevet.Analyzer, "early")
}

func TestSectionSelfWaits(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), quiescevet.Analyzer, "sections")
}

func TestLostRef(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), quiescevet.Analyzer, "lostref")
}

// TestLimits pins down the limits the documentation states: misuses the
// analyzer does not see, and a false report it makes.
func TestLimits(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), quiescevet.Analyzer, "limits")
}

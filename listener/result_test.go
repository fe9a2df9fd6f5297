package listener_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/quiesce/quiesce/listener"
)

func TestResult_String(t *testing.T) {
	assert.Equal(t, "Defer", listener.Defer.String())
	assert.Equal(t, "Allow", listener.Allow.String())
	assert.Equal(t, "Deny", listener.Deny.String())
	assert.Equal(t, "Result(-3)", listener.Result(-3).String())
	var zero listener.Result
	assert.Equal(t, listener.Defer, zero, "the zero Result is Defer")
}

func TestResult_Combine(t *testing.T) {
	all := []listener.Result{listener.Defer, listener.Allow, listener.Deny}
	for _, a := range all {
		for _, b := range all {
			want := listener.Defer
			switch {
			case a == listener.Deny || b == listener.Deny:
				want = listener.Deny
			case a == listener.Allow || b == listener.Allow:
				want = listener.Allow
			}
			assert.Equal(t, want, a.Combine(b), "%v.Combine(%v)", a, b)
			assert.Equal(t, a.Combine(b), b.Combine(a), "Combine is commutative")
		}
	}
	assert.PanicsWithValue(t, "listener: Combine of invalid Result Allow, Result(3)",
		func() { listener.Allow.Combine(3) })
}

func TestResult_Valid(t *testing.T) {
	for r := -128; r < 128; r++ {
		v := listener.Result(r)
		assert.Equal(t, r >= 0 && r <= 2, v.Valid(), "%d", r)
	}
}

func ExampleResult_Combine() {
	fmt.Println(listener.Defer.Combine(listener.Allow))
	fmt.Println(listener.Allow.Combine(listener.Deny))
	fmt.Println(listener.Defer.Combine(listener.Defer))
	// Output:
	// Allow
	// Deny
	// Defer
}

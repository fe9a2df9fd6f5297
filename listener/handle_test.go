package listener_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

func TestState_String(t *testing.T) {
	assert.Equal(t, "Active", listener.Active.String())
	assert.Equal(t, "Stopping", listener.Stopping.String())
	assert.Equal(t, "Stopped", listener.Stopped.String())
	assert.Equal(t, "State(9)", listener.State(9).String())
}

func TestHandle_ZeroAndNilPanic(t *testing.T) {
	msg := "listener: use of a nil Handle or one not returned by Listen"
	var nilHandle *listener.Handle
	for name, h := range map[string]*listener.Handle{"nil": nilHandle, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			assert.PanicsWithValue(t, msg, func() { h.Stop() })
			assert.PanicsWithValue(t, msg, func() { h.State() })
			assert.PanicsWithValue(t, msg, func() { h.Done() })
			assert.PanicsWithValue(t, msg, func() { h.Name() })
			assert.Equal(t, "listener.Handle(nil)", h.String())
		})
	}
}

func TestHandle_Lifecycle(t *testing.T) {
	s := scope.New[int]("s")
	h, err := s.Listen("l", func(context.Context, int) listener.Result { return listener.Allow })
	require.NoError(t, err)
	assert.Equal(t, listener.Active, h.State())
	select {
	case <-h.Done():
		t.Fatal("Done closed while Active")
	default:
	}
	assert.True(t, h.Stop())
	<-h.Done()
	assert.Equal(t, listener.Stopped, h.State())
	assert.False(t, h.Stop())
}

// A Handle's Done channel tells the owner when it may release what the
// listener uses, without blocking in Unlisten.
func ExampleHandle_Done() {
	s := scope.New[string]("events")
	h, _ := s.Listen("printer", func(_ context.Context, ev string) listener.Result {
		fmt.Println("event:", ev)
		return listener.Defer
	})
	s.Dispatch(context.Background(), "hello")
	fmt.Println("Stop:", h.Stop(), h.Stop())
	<-h.Done()
	fmt.Println(h.State())
	s.Dispatch(context.Background(), "not delivered")
	// Output:
	// event: hello
	// Stop: true false
	// Stopped
}

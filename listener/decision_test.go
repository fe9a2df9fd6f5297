package listener_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

func TestDecision_ZeroIsDeferByNobody(t *testing.T) {
	var zero listener.Decision
	assert.Equal(t, listener.Decision{Result: listener.Defer, By: ""}, zero)
	assert.Equal(t, zero, scope.New[int]("empty").Decide(context.Background(), 0),
		"a scope with no listener decides the zero Decision")
}

// Decisions are comparable, so that a caller can count them by value.
func TestDecision_Comparable(t *testing.T) {
	s := scope.New[int]("s")
	_, err := s.Listen("quota", func(context.Context, int) listener.Result { return listener.Deny })
	require.NoError(t, err)
	seen := map[listener.Decision]int{}
	for i := 0; i < 3; i++ {
		seen[s.Decide(context.Background(), i)]++
	}
	assert.Equal(t, map[listener.Decision]int{{Result: listener.Deny, By: "quota"}: 3}, seen)
}

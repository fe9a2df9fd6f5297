package scope_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quiesce/quiesce/listener"
	"github.com/quiesce/quiesce/scope"
)

// Stall.LogValue, through the two handlers of log/slog.

// logTo returns a logger that writes to buf, as JSON or as text, without
// the time.
func logTo(buf *bytes.Buffer, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	if json {
		return slog.New(slog.NewJSONHandler(buf, opts))
	}
	return slog.New(slog.NewTextHandler(buf, opts))
}

var (
	unlistenStall = scope.Stall{Scope: "fileop", Listener: "quick", Waited: 1500 * time.Millisecond, Inside: 2, Running: []string{"audit", "quota"}}
	closeStall    = scope.Stall{Scope: "fileop", Waited: 10 * time.Millisecond, Inside: 1} // nobody found
	oneStall      = scope.Stall{Scope: "fileop", Listener: "quick", Waited: time.Second, Inside: 1, Running: []string{"audit"}}
)

func TestStall_LogValueKeys(t *testing.T) {
	v := unlistenStall.LogValue()
	require.Equal(t, slog.KindGroup, v.Kind())
	var keys []string
	for _, a := range v.Group() {
		keys = append(keys, a.Key)
	}
	assert.Equal(t, []string{"scope", "listener", "waited", "inside", "running"}, keys)
}

func TestStall_LogValueText(t *testing.T) {
	for _, c := range []struct {
		st   scope.Stall
		want string
	}{
		{unlistenStall, `level=WARN msg=stall stall.scope=fileop stall.listener=quick stall.waited=1.5s stall.inside=2 stall.running="[audit quota]"`},
		{oneStall, `level=WARN msg=stall stall.scope=fileop stall.listener=quick stall.waited=1s stall.inside=1 stall.running=[audit]`},
		{closeStall, `level=WARN msg=stall stall.scope=fileop stall.listener="" stall.waited=10ms stall.inside=1 stall.running=[]`},
	} {
		var buf bytes.Buffer
		logTo(&buf, false).Warn("stall", "stall", c.st)
		assert.Equal(t, c.want+"\n", buf.String())
	}
}

func TestStall_LogValueJSON(t *testing.T) {
	for _, c := range []struct {
		st   scope.Stall
		want string
	}{
		{unlistenStall, `{"level":"WARN","msg":"stall","stall":{"scope":"fileop","listener":"quick","waited":1500000000,"inside":2,"running":["audit","quota"]}}`},
		{closeStall, `{"level":"WARN","msg":"stall","stall":{"scope":"fileop","listener":"","waited":10000000,"inside":1,"running":[]}}`},
	} {
		var buf bytes.Buffer
		logTo(&buf, true).Warn("stall", "stall", c.st)
		assert.JSONEq(t, c.want, buf.String())
		assert.Equal(t, c.want+"\n", buf.String(), "the keys in LogValue's order")
	}
}

// A report that logs the Stall it is given, from a real stall: the
// listener that holds the wait up is named in the line.
func TestStall_LogValueFromAReport(t *testing.T) {
	var buf bytes.Buffer
	logger := logTo(&buf, false)
	reported := make(chan struct{})
	s := scope.New[int]("fileop", scope.WithStallWarning(time.Millisecond, func(st scope.Stall) {
		logger.Warn("stall", "stall", st)
		close(reported)
	}))
	inside, release := make(chan struct{}), make(chan struct{})
	_, err := s.Listen("audit", func(context.Context, int) listener.Result {
		close(inside)
		<-release
		return listener.Allow
	})
	require.NoError(t, err)
	quick, err := s.Listen("quick", answer(listener.Defer))
	require.NoError(t, err)
	go s.Dispatch(bg, 0)
	within(t, inside, "the Dispatch inside audit")
	errs := make(chan error, 1)
	go func() { errs <- s.Unlisten(bg, quick) }()
	within(t, reported, "the stall report")
	close(release)
	require.NoError(t, within(t, errs, "the Unlisten"))
	assert.Regexp(t, `^level=WARN msg=stall stall.scope=fileop stall.listener=quick stall.waited=\S+ stall.inside=1 stall.running=\[audit\]\n$`, buf.String())
	require.NoError(t, s.Close(bg))
}

module github.com/quiesce/quiesce/bench

go 1.24

require (
	github.com/puzpuzpuz/xsync/v4 v4.5.0
	github.com/quiesce/quiesce v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

require go.uber.org/atomic v1.11.0 // indirect

replace github.com/quiesce/quiesce => ../

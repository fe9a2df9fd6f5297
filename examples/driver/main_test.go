package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The whole program: start, a few events, a teardown under load, free.
func Example() {
	if err := run(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// start: timer armed, listening on proc and fileop
	// pid 100 write /etc/hosts: Deny
	// pid 200 write /etc/hosts: Defer
	// pid 100 read /etc/hosts: Defer
	// pid 100 exited; pid 100 write /etc/hosts: Defer
	// syslog: audit: denied write /etc/hosts to pid 100 (/usr/bin/curl)
	// stop with 4 threads dispatching: guard closed, fileop and proc unlistened, timer stopped
	// free: touches of the freed driver: 0
	// after free: pid 100 write /etc/hosts: Defer
}

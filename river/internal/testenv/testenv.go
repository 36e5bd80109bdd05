// Package testenv decides what a test does when something it needs from
// outside the Go toolchain is missing (a browser binary, a service): it
// skips, saying what is missing and how to provide it, unless
// PELIQAN_REQUIRE_SERVICES is set to a true value (.ci/run sets it to 1),
// under which it fails. So a local run without the browser stays green and
// says why a test did not run, and CI cannot go green without running it.
//
// The nested module examples/embed-server holds a byte-identical copy of
// this file (another module cannot import this module's internal packages,
// and this helper is not worth public API); TestCopiesAreIdentical in the
// root module keeps the two the same.
package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// RequireServicesEnv names the variable that turns a missing service into a
// test failure.
const RequireServicesEnv = "PELIQAN_REQUIRE_SERVICES"

// Require lets the test go on when ok is true. Otherwise what (the missing
// thing, e.g. "Chromium") and why (what was looked for and how to provide
// it) go into a skip, or into a failure when RequireServicesEnv is true.
// A value of RequireServicesEnv that is not a boolean fails too: a typo must
// not turn CI's check back into a skip.
func Require(t testing.TB, what string, ok bool, why string) {
	t.Helper()
	switch act, msg := decide(os.Getenv(RequireServicesEnv), what, ok, why); act {
	case actSkip:
		t.Skip(msg)
	case actFail:
		t.Fatal(msg)
	}
}

type action int

const (
	actRun action = iota
	actSkip
	actFail
)

// decide is Require's decision, given the variable's value.
func decide(env, what string, ok bool, why string) (action, string) {
	if ok {
		return actRun, ""
	}
	required := false
	if env != "" {
		b, err := strconv.ParseBool(env)
		if err != nil {
			return actFail, fmt.Sprintf("%s is not available (%s), and %s=%q is not a boolean (use 1 to require services, or unset it)",
				what, why, RequireServicesEnv, env)
		}
		required = b
	}
	if required {
		return actFail, fmt.Sprintf("%s is required (%s=%s) but not available: %s", what, RequireServicesEnv, env, why)
	}
	return actSkip, fmt.Sprintf("skipped: %s is not available: %s; with %s=1 (as in CI) this fails instead",
		what, why, RequireServicesEnv)
}

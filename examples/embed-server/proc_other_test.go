//go:build !unix

package main

import "os/exec"

// setProcessGroup: on other systems the default (kill the process) applies.
func setProcessGroup(*exec.Cmd) {}

// killProcessGroup: nothing to do where process groups are not used.
func killProcessGroup(*exec.Cmd) {}

//go:build linux

package motoserver

import "syscall"

// setParentDeathSignal makes the kernel kill the server if the process that
// started it dies without calling Stop (a crashed or killed test binary).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// Package awsproxy is a loopback reverse proxy to put in front of an AWS
// endpoint (a local moto server) in tests and benchmarks. It names each
// request's AWS operation, counts calls per operation, adds a fixed latency
// per call, and injects faults (throttling, 500s, timeouts, dropped
// connections, and calls that take effect but whose answer is lost) at a
// set rate per operation. Hooks see every call before and after it is
// forwarded (to check an invariant at the moment of a write, or to stage a
// concurrent change), and CrashAfter takes the proxy down right after a
// given operation succeeds, as if the caller had died there.
package awsproxy

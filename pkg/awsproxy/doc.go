// Package awsproxy is a loopback reverse proxy to put in front of an AWS
// endpoint (a local moto server) in tests and benchmarks. It names each
// request's AWS operation, counts calls per operation, adds a fixed latency
// per call, and injects faults (throttling, 500s, timeouts, dropped
// connections) at a set rate per operation.
package awsproxy

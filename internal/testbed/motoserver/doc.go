// Package motoserver starts and stops a local moto server, an AWS
// emulator, on 127.0.0.1 for tests and the demo, and builds AWS SDK
// configurations and environments that point at it.
//
// moto_server must be on PATH (pip install "moto[server]==5.2.1"). Each
// server runs in its own process group on a free port; Stop kills the
// group. Clients reach it through a loopback front (Endpoint) that lets
// one DynamoDB request at a time through, because moto's threaded server
// applies a conditional write or a transaction without the atomicity
// DynamoDB documents (front.go). Tests use ForTest, which skips with a
// visible reason when moto_server is missing and fails instead when
// CI=true.
package motoserver

// Command sweeper reconciles every trail in every enabled Region (and account, in organization mode) on a schedule.
// With a sweep work queue (TRAILGUARD_SWEEP_QUEUE) and the state table it is
// the coordinator of a fanned-out sweep: it enqueues one work item per
// account and Region for functions/sweep-worker.
// Configuration: the TRAILGUARD_* environment variables (see pkg/config),
// read once at cold start; a bad value stops the function with a clear
// message.
package main

import "github.com/trailguard/trailguard/pkg/handler"

func main() { handler.MainEnv(handler.SweepCoordinator) }

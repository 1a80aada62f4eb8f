// Command sweep-worker reconciles the work items of a fanned-out sweep,
// one account and Region each, read from the sweep work queue (SQS) that
// functions/sweeper fills; the worker completing a sweep's last item
// writes its summary (log line, notice, metrics).
// Configuration: the TRAILGUARD_* environment variables (see pkg/config),
// read once at cold start; a bad value stops the function with a clear
// message.
package main

import "github.com/trailguard/trailguard/pkg/handler"

func main() { handler.MainEnv(handler.SweepWorker) }

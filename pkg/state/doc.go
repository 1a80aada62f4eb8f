// Package state is trailguard's durable memory: one DynamoDB table, deployed
// by the stack, that every writer (the event functions, the sweeper and
// `trailguard fix --apply`) shares. It holds
//
//   - leases: a conditional-write lock per resource (a key ARN or a trail
//     ARN), taken around every read-merge-write, so two writers never
//     interleave on one key policy;
//   - the loop guard: write attempts per resource in a sliding window,
//     shared by every container (a cold start no longer forgets them);
//   - the change log: one record per write trailguard makes, with the value
//     before and after, which `trailguard history` lists and
//     `trailguard undo` restores. A writer's guard count and the records
//     of the writes it admits are one TransactWriteItems (Admit), made
//     under the lease before the writes;
//   - the trail index: which trails use each key, kept current by every
//     reconcile and sweep, so a key event reads its trails instead of
//     listing the trails of every Region (index.go).
//
// The table has a string partition key "pk" and a string sort key "sk";
// items expire through DynamoDB TTL on the number attribute "expires_at"
// (epoch seconds). Leases are items pk="lease", sk=<resource>; guard
// counters pk="guard", sk=<resource>; changes pk="change", sk=<change id>,
// where the change id starts with its UTC time, so one Query lists changes
// in time order; index entries pk="index#<key ARN>", sk="trails" (one attribute
// per trail) and the index's sweep mark pk="index", sk="#sweep". trailguard
// writes a handful of changes a day per account, far below one
// partition's throughput.
//
// Why not a lock library: cirello.io/dynamolock (the Go port of Amazon's
// dynamodb-lock-client) keeps a lease alive with background heartbeat
// goroutines and lets a waiter take over only after watching an unchanged
// record for a whole lease duration, on a table of its own schema. A
// trailguard lease covers one read-merge-write of milliseconds inside a
// bounded Lambda invocation: one conditional PutItem with an expiry time,
// a conditional DeleteItem to release it, a check of the remaining
// lease before the write, and a context that ends with the lease
// (Lease.WriteContext, so a write still retrying when the lease runs out
// is cancelled rather than sent after another writer took over) are the
// whole protocol (about 100 lines here). What no lease can fence is a
// request already on the wire when its context ends and applied by AWS
// more than half the safety margin (1 s) later: KMS and CloudTrail offer
// no conditional write to refuse it.
//
// DynamoDB conditional writes are what make this safe: "the write
// succeeds only if the item attributes meet one or more expected
// conditions" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate),
// and TTL deletes expired items without a write
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
package state

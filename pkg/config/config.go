// Package config holds trailguard's configuration, read once at cold start
// from environment variables. A bad value fails Load with an error naming the
// variable, the value and what is expected; every bad variable is reported at
// once.
//
// The variables (names are a contract, see CONTRACTS.md):
//
//   - TRAILGUARD_MODE: "enforce" (fix) or "report" (plan and report only).
//     Default "enforce".
//   - TRAILGUARD_KEY_ALIAS: alias of the baseline key, looked up in the
//     bucket's Region of the trail's account. Must start with "alias/" and
//     must not be an AWS managed alias ("alias/aws/..."). Default
//     "alias/trailguard-cloudtrail".
//   - TRAILGUARD_KEYS: explicit baseline keys, "region=keyARN,region=keyARN".
//     Each value must be a KMS key ARN in the Region it is given for; an
//     explicit key wins over the alias. Default: none.
//   - TRAILGUARD_READERS: extra principal ARNs (IAM root, user, role, or STS
//     assumed-role / federated-user, any partition) that must be able to
//     decrypt log files, comma separated. Default: none.
//   - TRAILGUARD_EXEMPT_TAG: a trail with this tag key set to "true" is
//     reported, never changed. Default "trailguard:exempt".
//   - TRAILGUARD_ROLE_NAME: IAM role name assumed in other accounts
//     (organization mode). Default: empty, own account only.
//   - TRAILGUARD_TOPIC_ARN: SNS topic ARN for remediation and alert notices.
//     Default: empty, none.
//   - TRAILGUARD_TABLE: the DynamoDB state table (leases around every
//     key-policy write, the shared loop guard, the change log). Default:
//     empty, none: locks and the loop guard are per process and nothing is
//     recorded.
//   - TRAILGUARD_DISABLED_KEY: how a disabled trail key is fixed: "enable"
//     (EnableKey), "switch" (switch to the baseline key) or "report" (report
//     only). Default "enable".
//   - TRAILGUARD_REQUIRE_ROTATION: "true" turns on the opt-in
//     key-rotation-disabled rule. Default "false".
//   - TRAILGUARD_START_LOGGING: "true" makes trailguard fix the
//     trail-not-logging rule with StartLogging (opt-in). Default "false":
//     a trail that stopped logging is reported and alerted on only.
//   - TRAILGUARD_REGIONS: comma-separated Regions the sweep covers. Default:
//     empty, every enabled Region.
//   - TRAILGUARD_CONCURRENCY: how many trails or Regions are reconciled at
//     once, 1 to 64. Default 8.
//   - TRAILGUARD_MAX_ATTEMPTS: remediation attempts per resource per hour
//     before trailguard stops changing it and alerts instead, 1 to 100.
//     Default 5.
//   - TRAILGUARD_SECURITY_HUB: "auto" imports findings into AWS Security Hub
//     in every account and Region where it is enabled (pkg/securityhub);
//     "off" never calls Security Hub. Default "auto".
//   - TRAILGUARD_SWEEP_QUEUE: URL of the sweep work queue (SQS). With it
//     and TRAILGUARD_TABLE, functions/sweeper is the coordinator of a
//     fanned-out sweep (one work item per account and Region, reconciled
//     by functions/sweep-worker). Default: empty, the sweep runs in one
//     invocation.
//   - TRAILGUARD_SWEEP_MAX_RECEIVES: the work queue's maxReceiveCount, 1
//     to 1000: the worker counts an item that fails on that delivery as
//     failed in the sweep's summary. Default 3.
//
// Values are trimmed of surrounding spaces; in lists, items are trimmed and
// empty items and duplicates are dropped. Enumerated values are
// case-insensitive.
package config

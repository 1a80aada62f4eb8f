package compliance

// Grant is what a key policy must allow so that a set of trails can
// encrypt with the key and their readers can decrypt the logs. Merge adds
// it to a policy under trailguard's own statement Sids.
type Grant struct {
	// Partition of the trails ("aws", "aws-cn", "aws-us-gov").
	Partition string `json:"partition"`
	// TrailARNs become the aws:SourceArn values of the encrypt and
	// describe statements.
	TrailARNs []string `json:"trails"`
	// Accounts are the trail owner accounts (the management account for an
	// organization trail): the encrypt statement's
	// kms:EncryptionContext:aws:cloudtrail:arn patterns.
	Accounts []string `json:"accounts"`
	// ReaderAccounts are accounts whose principals may decrypt log files.
	ReaderAccounts []string `json:"reader_accounts,omitempty"`
	// Readers are explicit principal ARNs that may decrypt log files.
	Readers []string `json:"readers,omitempty"`
	// BucketKeyTrails are the trails (a subset of TrailARNs) whose bucket
	// uses an S3 Bucket Key: CloudTrail needs kms:Decrypt on the key to
	// create or update them with SSE-KMS (CloudTrail user guide, "Configure
	// AWS KMS key policies for CloudTrail",
	// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html).
	BucketKeyTrails []string `json:"bucket_key_trails,omitempty"`

	// KeyARN is the key whose policy receives the grant. Merge uses it as
	// the Resource of the requests it checks for an explicit Deny; when
	// empty it uses a placeholder key ARN, so a Deny naming one specific
	// key is then not seen. Optional; the planner sets it.
	KeyARN string `json:"key,omitempty"`
	// Deliveries say where each trail writes its log files, so Merge
	// checks the requests CloudTrail and S3 really make (object ARN,
	// kms:ViaService). Optional; Needs sets it.
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// Delivery is where one trail writes its log files.
type Delivery struct {
	TrailARN     string `json:"trail"`
	Bucket       string `json:"bucket"`
	Prefix       string `json:"prefix,omitempty"`
	BucketRegion string `json:"bucket_region"`
	// BucketKey is true when the bucket uses an S3 Bucket Key: S3 then
	// uses the bucket ARN, not the object ARN, as the aws:s3:arn
	// encryption context (S3 user guide, "Reducing the cost of SSE-KMS
	// with Amazon S3 Bucket Keys",
	// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html).
	BucketKey bool `json:"bucket_key,omitempty"`
	// OrganizationID (o-...) is set for an organization trail: its log
	// files are written under AWSLogs/<organization id>/<account>/
	// (CloudTrail user guide, "Creating a trail for an organization",
	// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html).
	OrganizationID string `json:"organization_id,omitempty"`
}

// Union returns one grant carrying everything g and o grant: the write
// trailguard makes once for several trails that share a key. Lists are
// concatenated (Merge normalizes them); the key and partition are g's, or
// o's when g has none.
func (g Grant) Union(o Grant) Grant {
	u := Grant{
		Partition:      g.Partition,
		TrailARNs:      append(append([]string(nil), g.TrailARNs...), o.TrailARNs...),
		Accounts:       append(append([]string(nil), g.Accounts...), o.Accounts...),
		ReaderAccounts: append(append([]string(nil), g.ReaderAccounts...), o.ReaderAccounts...),
		Readers:        append(append([]string(nil), g.Readers...), o.Readers...),
		KeyARN:         g.KeyARN,
		Deliveries:     append(append([]Delivery(nil), g.Deliveries...), o.Deliveries...),
	}
	if u.Partition == "" {
		u.Partition = o.Partition
	}
	if u.KeyARN == "" {
		u.KeyARN = o.KeyARN
	}
	return u
}

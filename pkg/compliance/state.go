package compliance

// Trail is a trail as read from CloudTrail (GetTrail / DescribeTrails) and
// its tags.
type Trail struct {
	Name                string
	ARN                 string
	HomeRegion          string
	IsMultiRegion       bool
	IsOrganizationTrail bool
	S3BucketName        string
	S3KeyPrefix         string
	// KMSKeyID is the key ARN CloudTrail stores; "" means not encrypted.
	KMSKeyID    string
	SNSTopicARN string
	Tags        map[string]string
}

// Key is a KMS key as read from DescribeKey, GetKeyPolicy and
// GetKeyRotationStatus.
type Key struct {
	ARN     string
	ID      string
	Account string
	Region  string
	// State is the KMS KeyState: Enabled, Disabled, PendingDeletion,
	// PendingImport, PendingReplicaDeletion, Unavailable, Creating, Updating.
	State string
	// Manager is CUSTOMER or AWS.
	Manager string
	// Spec is the KeySpec (SYMMETRIC_DEFAULT for CloudTrail).
	Spec string
	// Usage is the KeyUsage (ENCRYPT_DECRYPT for CloudTrail).
	Usage string
	// MultiRegion is true for a multi-Region key; ReplicaRegions lists the
	// Regions of its primary and replicas.
	MultiRegion    bool
	ReplicaRegions []string
	// Policy is the "default" key policy document as returned by
	// GetKeyPolicy; "" when it could not be read.
	Policy          string
	RotationEnabled bool
	// RotationUnknown is true when GetKeyRotationStatus could not be read:
	// key-rotation-disabled is then not decided (key-unverifiable instead).
	RotationUnknown bool
}

// State is everything observed about one trail, as the reconciler read it.
type State struct {
	// Account is the account the trail is observed in.
	Account string
	// Region is the Region the trail is observed in (differs from
	// Trail.HomeRegion for a shadow trail).
	Region string
	Trail  Trail
	// BucketRegion is the Region of Trail.S3BucketName.
	BucketRegion string
	// Key is the trail's current key; nil when the trail is not encrypted
	// or the key could not be described (then KeyError says why).
	Key      *Key
	KeyError string
	// Baseline is trailguard's baseline key for BucketRegion; nil when
	// there is none (then BaselineError says why).
	Baseline      *Key
	BaselineError string
	// LatestDeliveryError is GetTrailStatus.LatestDeliveryError.
	LatestDeliveryError string
	// Logging is GetTrailStatus.IsLogging; nil when the status could not
	// be read (then Unverified says why).
	Logging *bool
	// KeyDenied is true when reading the trail's key was denied
	// (AccessDenied on DescribeKey): the key may well exist and work, so
	// it is reported as key-unverifiable, never switched away from.
	KeyDenied bool
	// Unverified lists reads of the trail or its bucket that were denied
	// or failed (GetTrailStatus, the bucket's Region): each is reported as
	// trail-unverifiable and nothing is changed on its basis.
	Unverified []string
	// BucketKey says whether the bucket's default encryption uses an S3
	// Bucket Key (GetBucketEncryption): BucketKeyEnabled, BucketKeyDisabled,
	// or BucketKeyUnknown when it could not be read (a log-archive bucket
	// in another account usually does not let it be read).
	BucketKey BucketKey
	// OrganizationID is the organization's id (o-...) for an organization
	// trail, when known: its log files are written under
	// AWSLogs/<organization id>/<account>/.
	OrganizationID string
	// ManagementAccount is the organization's management account, when
	// known ("" outside an organization).
	ManagementAccount string
}

// DisabledKeyAction says what to do about a trail whose key is disabled.
type DisabledKeyAction string

// The choices for DisabledKeyAction.
const (
	DisabledKeyEnable DisabledKeyAction = "enable" // EnableKey (default)
	DisabledKeySwitch DisabledKeyAction = "switch" // switch to the baseline key
	DisabledKeyReport DisabledKeyAction = "report" // report only
)

// Config is the baseline a trail is checked against.
type Config struct {
	// Readers are extra principal ARNs that must be able to decrypt the
	// log files. The trail owner's account is always a reader.
	Readers []string
	// ExemptTag is the tag key that, with value "true", exempts a trail
	// from changes (it is still reported).
	ExemptTag string
	// RequireRotation turns on the opt-in key-rotation-disabled rule.
	RequireRotation bool
	// DisabledKey says how key-disabled is fixed; "" means enable.
	DisabledKey DisabledKeyAction
	// StartLogging makes trail-not-logging actionable (StartLogging);
	// otherwise it is an alert.
	StartLogging bool
}

// BucketKey is what is known about a bucket's S3 Bucket Key setting.
type BucketKey string

// The BucketKey values.
const (
	BucketKeyUnknown  BucketKey = ""
	BucketKeyEnabled  BucketKey = "enabled"
	BucketKeyDisabled BucketKey = "disabled"
)

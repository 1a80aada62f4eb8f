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
}

package plan

// Permissions returns the IAM actions the executor needs to carry out an
// action of this kind (including the re-read it does right before a
// write). The infrastructure builds the functions' policy from these and
// from ReadPermissions.
func (k Kind) Permissions() []string {
	switch k {
	case CancelKeyDeletion:
		return []string{"kms:CancelKeyDeletion"}
	case EnableKey:
		return []string{"kms:EnableKey"}
	case PutKeyPolicy:
		return []string{"kms:GetKeyPolicy", "kms:PutKeyPolicy"}
	case EnableKeyRotation:
		return []string{"kms:EnableKeyRotation"}
	case UpdateTrail:
		// UpdateTrail on an organization trail also has CloudTrail check
		// the organization and its service-linked role with the caller's
		// permissions; without them it fails with
		// InsufficientDependencyServiceAccessPermissionException (CloudTrail
		// user guide, "Prepare for creating a trail for your organization",
		// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-an-organizational-trail-prepare.html).
		// Those are in DependencyPermissions: CloudTrail, not trailguard,
		// makes them.
		return []string{"cloudtrail:UpdateTrail"}
	case StartLogging:
		return []string{"cloudtrail:StartLogging"}
	}
	return nil
}

// Kinds lists every action kind, in plan order.
func Kinds() []Kind {
	return []Kind{CancelKeyDeletion, EnableKey, PutKeyPolicy, EnableKeyRotation, UpdateTrail, StartLogging}
}

// ReadPermissions are the IAM actions the reconciler needs to observe a
// trail and its key, find trails and Regions, and report. The shell package
// must not call any other read.
func ReadPermissions() []string {
	return []string{
		"cloudtrail:DescribeTrails",
		"cloudtrail:GetTrail",
		"cloudtrail:GetTrailStatus",
		"cloudtrail:ListTags",
		"kms:DescribeKey",
		"kms:GetKeyPolicy",
		"kms:GetKeyRotationStatus",
		"s3:GetBucketLocation",
		// GetBucketEncryption (S3 Bucket Key); HeadBucket for the bucket's
		// Region is sent unsigned (feature/s3/manager.GetBucketRegion) and
		// needs no permission.
		"s3:GetEncryptionConfiguration",
		// The organization id of an organization trail's log path.
		"organizations:DescribeOrganization",
		"ec2:DescribeRegions",
		"sns:Publish",
		// The report step's Security Hub findings (pkg/securityhub).
		"securityhub:BatchImportFindings",
		"securityhub:BatchUpdateFindings",
		"securityhub:DescribeHub",
		"securityhub:GetFindings",
	}
}

// OrganizationPermissions are the extra IAM actions the central functions
// need in organization mode.
func OrganizationPermissions() []string {
	return []string{"organizations:ListAccounts", "sts:AssumeRole"}
}

// DependencyPermissions are IAM actions trailguard's code never calls but
// an AWS service checks with trailguard's credentials while serving one of
// its calls: UpdateTrail on an organization trail has CloudTrail look at
// the organization, its trusted access and CloudTrail's service-linked
// role, and fails with InsufficientDependencyServiceAccessPermissionException
// without them (CloudTrail user guide, "Prepare for creating a trail for
// your organization",
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-an-organizational-trail-prepare.html).
// All are reads. iam:CreateServiceLinkedRole is deliberately not granted:
// an organization trail exists only once that role exists, and trailguard
// creates no IAM roles. The infrastructure grants these with the others.
func DependencyPermissions() []string {
	return []string{"iam:GetRole", "organizations:DescribeOrganization", "organizations:ListAWSServiceAccessForOrganization"}
}

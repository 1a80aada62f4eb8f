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
		return []string{"cloudtrail:UpdateTrail"}
	}
	return nil
}

// Kinds lists every action kind, in plan order.
func Kinds() []Kind {
	return []Kind{CancelKeyDeletion, EnableKey, PutKeyPolicy, EnableKeyRotation, UpdateTrail}
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

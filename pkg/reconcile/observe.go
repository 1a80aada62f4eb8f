package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// defaultPolicyName is the only key policy name KMS has.
const defaultPolicyName = "default"

// keyRead is what was learned about one key: the key, or why it could not
// be described.
type keyRead struct {
	Key      *compliance.Key
	Problem  string
	NotFound bool
	// Denied is true when DescribeKey was denied: the key cannot be
	// verified, which is not the same as missing.
	Denied bool
}

// toTrail converts an SDK trail; the home Region falls back to the ARN's.
func toTrail(t *cttypes.Trail) compliance.Trail {
	tr := compliance.Trail{
		Name:                aws.ToString(t.Name),
		ARN:                 aws.ToString(t.TrailARN),
		HomeRegion:          aws.ToString(t.HomeRegion),
		IsMultiRegion:       aws.ToBool(t.IsMultiRegionTrail),
		IsOrganizationTrail: aws.ToBool(t.IsOrganizationTrail),
		S3BucketName:        aws.ToString(t.S3BucketName),
		S3KeyPrefix:         aws.ToString(t.S3KeyPrefix),
		KMSKeyID:            aws.ToString(t.KmsKeyId),
		SNSTopicARN:         aws.ToString(t.SnsTopicARN),
	}
	if tr.HomeRegion == "" {
		if a, err := arn.Parse(tr.ARN); err == nil {
			tr.HomeRegion = a.Region
		}
	}
	return tr
}

// observe reads everything else about trail t (already read with GetTrail
// or DescribeTrails) in its home Region, in as few sequential rounds as
// possible: tags, status, bucket location and the trail's key at once; the
// baseline key of the bucket's Region only when the trail must switch to it
// (speculatively at once for an unencrypted trail, whose bucket is most
// likely in the trail's Region).
func (rn *run) observe(ctx context.Context, account string, t compliance.Trail) (compliance.State, error) {
	region := t.HomeRegion
	st := compliance.State{Account: account, Region: region, Trail: t}
	c, err := rn.r.clients(ctx, account, region)
	if err != nil {
		return st, err
	}

	var (
		trailKey     keyRead
		spec         keyRead
		specErr      error
		bucketRegion string
		bucketErr    error
		bucketKey    compliance.BucketKey
		statusErr    error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		tags, err := rn.trailTags(gctx, c, t.ARN)
		if err != nil {
			if !Transient(err) && trailOwner(t.ARN) != account {
				// An organization trail seen from a member account:
				// nothing is changed here anyway.
				return nil
			}
			return fmt.Errorf("list tags of trail %s: %w", t.ARN, err)
		}
		st.Trail.Tags = tags
		return nil
	})
	g.Go(func() error {
		ts, err := rn.trailStatus(gctx, c, t.ARN)
		if err != nil {
			if Transient(err) {
				return err
			}
			rn.r.log.Warn("cannot read trail status", "trail", t.ARN, "error", err.Error())
			statusErr = err
			return nil
		}
		st.LatestDeliveryError = ts.deliveryError
		st.Logging = aws.Bool(ts.logging)
		return nil
	})
	g.Go(func() error {
		bucketRegion, bucketErr = rn.bucketRegion(gctx, c, t.S3BucketName)
		if Transient(bucketErr) {
			return bucketErr
		}
		return nil
	})
	g.Go(func() error {
		// Speculatively in the trail's Region, where the bucket most
		// likely is; read again below if it is elsewhere.
		var err error
		bucketKey, err = rn.bucketKey(gctx, c, t.S3BucketName)
		return err
	})
	if t.IsOrganizationTrail {
		g.Go(func() error {
			st.OrganizationID = rn.organizationID(gctx, account, region)
			return nil
		})
	}
	if t.KMSKeyID != "" {
		g.Go(func() error {
			kr, err := rn.readKey(gctx, account, region, t.KMSKeyID)
			trailKey = kr
			return err
		})
	} else {
		g.Go(func() error {
			spec, specErr = rn.baseline(gctx, account, region)
			if Transient(specErr) {
				return specErr
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return st, err
	}

	st.Key, st.KeyError, st.KeyDenied = trailKey.Key, trailKey.Problem, trailKey.Denied
	if statusErr != nil {
		st.Unverified = append(st.Unverified, statusErr.Error())
	}
	switch {
	case bucketErr == nil:
		st.BucketRegion = bucketRegion
	case st.Key != nil && st.Key.Region != "":
		// A bucket in another account usually does not let us read its
		// location. CloudTrail only accepted the key because it is in the
		// bucket's Region, so that is the best guess.
		rn.r.log.Warn("cannot read bucket location; assuming the trail key's Region",
			"trail", t.ARN, "bucket", t.S3BucketName, "region", st.Key.Region, "error", bucketErr.Error())
		st.BucketRegion = st.Key.Region
	case trailOwner(t.ARN) != account:
		// An organization trail seen from a member account: its bucket
		// belongs to another account, and nothing is changed here.
		rn.r.log.Info("cannot read the bucket location of another account's trail", "trail", t.ARN, "error", bucketErr.Error())
	default:
		// Neither HeadBucket nor GetBucketLocation told the Region: the
		// trail cannot be checked against it, and no key is chosen for it.
		rn.r.log.Warn("cannot find the bucket's Region", "trail", t.ARN, "bucket", t.S3BucketName, "error", bucketErr.Error())
		st.Unverified = append(st.Unverified, bucketErr.Error())
	}
	if st.BucketRegion != "" && st.BucketRegion != region {
		c, err := rn.r.clients(ctx, account, st.BucketRegion)
		if err != nil {
			return st, err
		}
		if bucketKey, err = rn.bucketKeyIn(ctx, c, st.BucketRegion, t.S3BucketName); err != nil {
			return st, err
		}
	}
	st.BucketKey = bucketKey

	if t.KMSKeyID == "" && st.BucketRegion == region {
		if specErr != nil {
			return st, specErr
		}
		st.Baseline, st.BaselineError = spec.Key, spec.Problem
		return st, nil
	}
	if a := compliance.Assess(st, rn.r.ccfg); a.Switch && a.Blocked == "" {
		b, err := rn.baseline(ctx, account, st.BucketRegion)
		if err != nil {
			return st, err
		}
		st.Baseline, st.BaselineError = b.Key, b.Problem
	}
	return st, nil
}

// baseline returns trailguard's baseline key for region: the explicit
// TRAILGUARD_KEYS key, else the key behind TRAILGUARD_KEY_ALIAS in region.
func (rn *run) baseline(ctx context.Context, account, region string) (keyRead, error) {
	if region == "" {
		return keyRead{Problem: "the bucket's Region is unknown"}, nil
	}
	return rn.baselines.do(ctx, account+"|"+region, func() (keyRead, error) {
		ref, explicit := rn.r.cfg.BaselineKey(region)
		kr, err := rn.readKey(ctx, account, region, ref)
		if err != nil || kr.Key != nil {
			return kr, err
		}
		switch {
		case explicit:
			kr.Problem = fmt.Sprintf("baseline key %s (TRAILGUARD_KEYS) for Region %s: %s", ref, region, kr.Problem)
		case kr.NotFound:
			kr.Problem = fmt.Sprintf("no baseline key %s in Region %s", ref, region)
		default:
			kr.Problem = fmt.Sprintf("baseline key %s in Region %s: %s", ref, region, kr.Problem)
		}
		return kr, nil
	})
}

// readKey reads key ref (ARN, id or alias; ids and aliases are resolved in
// region of account) with DescribeKey, GetKeyPolicy and
// GetKeyRotationStatus, once per run. A key that cannot be described is a
// keyRead with Problem; only transient errors are returned.
func (rn *run) readKey(ctx context.Context, account, region, ref string) (keyRead, error) {
	if a, err := arn.Parse(ref); err == nil && strings.HasPrefix(a.Resource, "key/") {
		return rn.keys.do(ctx, ref, func() (keyRead, error) {
			return rn.fetchKey(ctx, account, a.AccountID, a.Region, ref, nil)
		})
	}
	if a, err := arn.Parse(ref); err == nil {
		region = a.Region // an alias ARN
	}
	refKey := account + "|" + region + "|" + ref
	if keyARN, ok := rn.r.aliases.get(refKey); ok {
		// Resolved by an earlier run of this container: read the key
		// directly (its DescribeKey and GetKeyPolicy run side by side),
		// one sequential round trip fewer. A key that is gone or no longer
		// enabled may mean the alias moved: resolve it again.
		kr, err := rn.readKey(ctx, account, region, keyARN)
		if err != nil || (kr.Key != nil && kr.Key.State == compliance.KeyStateEnabled) {
			return kr, err
		}
		rn.r.aliases.forget(refKey)
		rn.keys.forget(keyARN)
	}
	keyARN, err := rn.refs.do(ctx, account+"|"+region+"|"+ref, func() (string, error) {
		c, err := rn.keyClients(ctx, account, "", region)
		if err != nil {
			return "", err
		}
		out, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		if err != nil {
			if Transient(err) {
				return "", fmt.Errorf("describe key %s in %s: %w", ref, region, err)
			}
			return "", &keyProblem{notFound: isNotFound(err), denied: isAccessDenied(err), err: fmt.Errorf("describe key %s in %s: %w", ref, region, err)}
		}
		meta := out.KeyMetadata
		keyARN := aws.ToString(meta.Arn)
		// Seed the key cache with this description.
		_, err = rn.keys.do(ctx, keyARN, func() (keyRead, error) {
			return rn.fetchKey(ctx, account, aws.ToString(meta.AWSAccountId), region, keyARN, meta)
		})
		if err == nil {
			rn.r.aliases.put(refKey, keyARN)
		}
		return keyARN, err
	})
	var kp *keyProblem
	if errors.As(err, &kp) {
		return keyRead{Problem: kp.err.Error(), NotFound: kp.notFound, Denied: kp.denied}, nil
	}
	if err != nil {
		return keyRead{}, err
	}
	return rn.readKey(ctx, account, region, keyARN)
}

// keyProblem is a terminal DescribeKey failure kept in the ref cache.
type keyProblem struct {
	notFound bool
	denied   bool
	err      error
}

func (p *keyProblem) Error() string { return p.err.Error() }

// fetchKey reads key keyARN in region; meta is its description when already
// known.
func (rn *run) fetchKey(ctx context.Context, account, keyAccount, region, keyARN string, meta *kmstypes.KeyMetadata) (keyRead, error) {
	c, err := rn.keyClients(ctx, account, keyAccount, region)
	if err != nil {
		return keyRead{}, err
	}
	kr, err := rn.fetchKeyWith(ctx, c, keyARN, meta)
	if err == nil && kr.Key == nil && keyAccount != "" && keyAccount != account && rn.r.orgMode() {
		// The key owner is outside the organization (or its role is
		// missing): read what the observed account may read.
		rn.r.log.Debug("cannot read key as its owner; reading it as the observed account", "key", keyARN, "problem", kr.Problem)
		if c, err = rn.r.clients(ctx, account, region); err != nil {
			return keyRead{}, err
		}
		return rn.fetchKeyWith(ctx, c, keyARN, meta)
	}
	return kr, err
}

// fetchKeyWith reads key keyARN with clients c.
func (rn *run) fetchKeyWith(ctx context.Context, c *Clients, keyARN string, meta *kmstypes.KeyMetadata) (keyRead, error) {
	var (
		policy          string
		rotation        bool
		rotationUnknown bool
		descErr         error
	)
	g, gctx := errgroup.WithContext(ctx)
	if meta == nil {
		g.Go(func() error {
			out, err := c.KMS.DescribeKey(gctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
			if err != nil {
				if Transient(err) {
					return fmt.Errorf("describe key %s: %w", keyARN, err)
				}
				descErr = fmt.Errorf("describe key %s: %w", keyARN, err)
				return nil
			}
			meta = out.KeyMetadata
			return nil
		})
	}
	g.Go(func() error {
		out, err := c.KMS.GetKeyPolicy(gctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String(defaultPolicyName)})
		if err != nil {
			if Transient(err) {
				return fmt.Errorf("get key policy %s: %w", keyARN, err)
			}
			rn.r.log.Debug("cannot read key policy", "key", keyARN, "error", err.Error())
			return nil
		}
		policy = aws.ToString(out.Policy)
		return nil
	})
	// Rotation matters only for the opt-in key-rotation-disabled rule:
	// without it, its answer would change nothing.
	g.Go(func() error {
		if !rn.r.cfg.RequireRotation {
			return nil
		}
		out, err := c.KMS.GetKeyRotationStatus(gctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyARN)})
		if err != nil {
			if Transient(err) {
				return fmt.Errorf("get key rotation status %s: %w", keyARN, err)
			}
			rn.r.log.Debug("cannot read key rotation status", "key", keyARN, "error", err.Error())
			rotationUnknown = true
			return nil
		}
		rotation = out.KeyRotationEnabled
		return nil
	})
	if err := g.Wait(); err != nil {
		return keyRead{}, err
	}
	if descErr != nil {
		return keyRead{Problem: descErr.Error(), NotFound: isNotFound(descErr), Denied: isAccessDenied(descErr)}, nil
	}
	k := toKey(meta)
	k.Policy = policy
	k.RotationEnabled, k.RotationUnknown = rotation, rotationUnknown
	return keyRead{Key: &k}, nil
}

// toKey converts key metadata (without policy and rotation).
func toKey(m *kmstypes.KeyMetadata) compliance.Key {
	k := compliance.Key{
		ARN:         aws.ToString(m.Arn),
		ID:          aws.ToString(m.KeyId),
		Account:     aws.ToString(m.AWSAccountId),
		State:       string(m.KeyState),
		Manager:     string(m.KeyManager),
		Spec:        string(m.KeySpec),
		Usage:       string(m.KeyUsage),
		MultiRegion: aws.ToBool(m.MultiRegion),
	}
	if k.Usage == "" && k.Spec == compliance.KeySpecSymmetric {
		// AWS always returns KeyUsage; an emulator may leave it out when
		// CreateKey did not set it. ENCRYPT_DECRYPT is CreateKey's default
		// and the only usage of a symmetric encryption key.
		k.Usage = compliance.KeyUsageEncryptDecrypt
	}
	if a, err := arn.Parse(k.ARN); err == nil {
		k.Region = a.Region
		if k.Account == "" {
			k.Account = a.AccountID
		}
	}
	if mc := m.MultiRegionConfiguration; mc != nil {
		if mc.PrimaryKey != nil && aws.ToString(mc.PrimaryKey.Region) != "" {
			k.ReplicaRegions = append(k.ReplicaRegions, aws.ToString(mc.PrimaryKey.Region))
		}
		for _, r := range mc.ReplicaKeys {
			if aws.ToString(r.Region) != "" {
				k.ReplicaRegions = append(k.ReplicaRegions, aws.ToString(r.Region))
			}
		}
	}
	return k
}

// keyClients returns the clients to read or change a key of keyAccount
// observed from account: in organization mode the key owner's (a central
// key's policy can only be read by its own account), otherwise account's.
func (rn *run) keyClients(ctx context.Context, account, keyAccount, region string) (*Clients, error) {
	if keyAccount != "" && keyAccount != account && rn.r.orgMode() {
		return rn.r.clients(ctx, keyAccount, region)
	}
	return rn.r.clients(ctx, account, region)
}

// trailOwner is the account in a trail ARN.
func trailOwner(trailARN string) string {
	if a, err := arn.Parse(trailARN); err == nil {
		return a.AccountID
	}
	return ""
}

// trailTags lists the tags of a trail, once per run.
func (rn *run) trailTags(ctx context.Context, c *Clients, trailARN string) (map[string]string, error) {
	return rn.tags.do(ctx, trailARN, func() (map[string]string, error) {
		out, err := c.CloudTrail.ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{trailARN}})
		if err != nil {
			return nil, err
		}
		tags := map[string]string{}
		for _, rt := range out.ResourceTagList {
			for _, tag := range rt.TagsList {
				tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
		}
		return tags, nil
	})
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/changelog"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// policyCmd is `trailguard policy --trail ARN`.
func (a *app) policyCmd() *cobra.Command {
	var trail string
	cmd := &cobra.Command{
		Use:   "policy --trail ARN",
		Short: "Show, as a diff, the key policy trailguard would give the trail's key",
		Long: `Plans the remediation of one trail (report mode: nothing is written) and, for every key whose
policy the plan changes, prints the current policy and the merged one as a unified diff. The
key is the trail's own key, or the baseline key when the trail would be switched to it.
Statements trailguard does not own are never changed.

Exit codes: 0 no change needed, 1 a change is needed (the diff is printed), 2 error.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			t, err := parseTrailARN(trail)
			if err != nil {
				return err
			}
			return a.showPolicy(cmd.Context(), trail, t)
		}),
	}
	cmd.Flags().StringVar(&trail, "trail", "", "ARN of the trail (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME)")
	_ = cmd.MarkFlagRequired("trail")
	return cmd
}

// trailRef is a parsed trail ARN.
type trailRef struct {
	account string
	region  string
}

// parseTrailARN checks the --trail value.
func parseTrailARN(s string) (*trailRef, error) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "cloudtrail" || !strings.HasPrefix(a.Resource, "trail/") ||
		len(a.Resource) == len("trail/") || !regionRE.MatchString(a.Region) || len(a.AccountID) != 12 {
		return nil, usagef("invalid --trail %q: want a trail ARN such as arn:aws:cloudtrail:us-east-1:111122223333:trail/Name", s)
	}
	return &trailRef{account: a.AccountID, region: a.Region}, nil
}

// showPolicy plans the trail's remediation and prints the policy diffs.
func (a *app) showPolicy(ctx context.Context, trailARN string, t *trailRef) error {
	s, err := a.newSession(ctx, config.Report, t.region)
	if err != nil {
		return err
	}
	s.cfg.TopicARN = ""
	rep, err := a.reconciler(s).ReconcileTrail(ctx, t.account, t.region, trailARN)
	if err != nil {
		return fmt.Errorf("plan trail %s: %w", trailARN, err)
	}
	rs, err := decodeResults(rep)
	if err != nil {
		return err
	}
	if err := a.problems(rs, rep.Errors); err != nil {
		return err
	}
	if len(rs) != 1 {
		return fmt.Errorf("plan trail %s: got %d results, want 1", trailARN, len(rs))
	}
	res := rep.Results[0]
	if res.Message != "" && len(res.Findings) == 0 && len(res.Actions) == 0 {
		return fmt.Errorf("trail %s: %s", trailARN, res.Message)
	}
	var switchTo string
	var keys []string
	for _, act := range res.Actions {
		switch string(act.Action) {
		case "UpdateTrail":
			switchTo = act.KMSKeyID
		case "PutKeyPolicy":
			keys = append(keys, act.Target)
		}
	}
	w := a.stdout
	if switchTo != "" {
		fmt.Fprintf(w, "trail %s would be switched to key %s\n", trailARN, switchTo)
	}
	if len(keys) == 0 {
		_, err := fmt.Fprintf(w, "no change needed: no key policy of trail %s needs trailguard's statements\n", trailARN)
		return err
	}
	factory := reconcile.NewClientFactory(s.aws, s.cfg.RoleName)
	account := res.Account
	if account == s.account {
		account = ""
	}
	c, err := factory.Clients(ctx, account, res.Region)
	if err != nil {
		return err
	}
	st, err := observeTrail(ctx, c, trailARN)
	if err != nil {
		return err
	}
	changed := false
	for _, keyARN := range keys {
		kc, err := factory.Clients(ctx, account, arnRegion(keyARN, res.Region))
		if err != nil {
			return err
		}
		cur, err := kc.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
		if err != nil {
			return fmt.Errorf("get policy of key %s: %w", keyARN, err)
		}
		g := compliance.Needs(st, s.cfg.Compliance())
		g.KeyARN = keyARN
		merged, ch, err := compliance.Merge(aws.ToString(cur.Policy), g)
		if err != nil {
			return fmt.Errorf("merge policy of key %s: %w", keyARN, err)
		}
		if !ch {
			fmt.Fprintf(w, "no change needed: the policy of key %s already grants what trail %s needs\n", keyARN, trailARN)
			continue
		}
		changed = true
		if err := writePolicyDiff(w, keyARN, trailARN, aws.ToString(cur.Policy), merged); err != nil {
			return err
		}
	}
	if changed {
		return errFindings
	}
	return nil
}

// observeTrail reads what the grant of a trail depends on: the trail and
// its bucket's Region.
func observeTrail(ctx context.Context, c *reconcile.Clients, trailARN string) (compliance.State, error) {
	out, err := c.CloudTrail.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(trailARN)})
	if err != nil {
		return compliance.State{}, fmt.Errorf("get trail %s: %w", trailARN, err)
	}
	if out.Trail == nil {
		return compliance.State{}, fmt.Errorf("get trail %s: not found", trailARN)
	}
	t := out.Trail
	st := compliance.State{Trail: compliance.Trail{
		Name: aws.ToString(t.Name), ARN: aws.ToString(t.TrailARN), HomeRegion: aws.ToString(t.HomeRegion),
		IsMultiRegion: aws.ToBool(t.IsMultiRegionTrail), IsOrganizationTrail: aws.ToBool(t.IsOrganizationTrail),
		S3BucketName: aws.ToString(t.S3BucketName), S3KeyPrefix: aws.ToString(t.S3KeyPrefix), KMSKeyID: aws.ToString(t.KmsKeyId),
	}}
	loc, err := c.S3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: t.S3BucketName})
	if err != nil {
		return compliance.State{}, fmt.Errorf("get location of bucket %s: %w", st.Trail.S3BucketName, err)
	}
	st.BucketRegion = string(loc.LocationConstraint)
	switch st.BucketRegion {
	case "":
		st.BucketRegion = "us-east-1"
	case "EU":
		st.BucketRegion = "eu-west-1"
	}
	return st, nil
}

// writePolicyDiff writes the unified diff of two policies, both indented
// the same way so that only real changes show.
func writePolicyDiff(w io.Writer, keyARN, trailARN, current, merged string) error {
	return changelog.PolicyDiff(w, current, merged,
		"key policy of "+keyARN+" (current)",
		"key policy of "+keyARN+" (with trailguard's statements for "+trailARN+")")
}

// arnRegion returns the Region of an ARN, or fallback.
func arnRegion(s, fallback string) string {
	if a, err := arn.Parse(s); err == nil && a.Region != "" {
		return a.Region
	}
	return fallback
}

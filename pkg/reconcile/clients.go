package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssecurityhub "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailguard/trailguard/pkg/event"
	"github.com/trailguard/trailguard/pkg/securityhub"
)

// Clients are the service clients trailguard uses in one account and
// Region. STS and Organizations are used only with the own account's
// clients.
type Clients struct {
	CloudTrail    CloudTrailAPI
	KMS           KMSAPI
	S3            S3API
	SNS           SNSAPI
	EC2           EC2API
	STS           STSAPI
	Organizations OrganizationsAPI
	SecurityHub   securityhub.API
}

// ClientFactory returns the clients for an account and Region. Account ""
// means the own account (the base credentials); any other account is
// reached through the organization role.
type ClientFactory interface {
	Clients(ctx context.Context, account, region string) (*Clients, error)
}

// Retry defaults: the SDK's adaptive retry mode with a bounded number of
// attempts, so a throttled call is retried a few times and then surfaces
// as a transient error for Lambda to retry.
const (
	DefaultRetryMaxAttempts = 4
	DefaultRetryMaxBackoff  = 5 * time.Second
)

// NewRetryer returns an adaptive-mode retryer constructor (client-side rate
// limiting after throttles) with at most maxAttempts attempts per call and
// at most maxBackoff between them. Use it as aws.Config.Retryer.
func NewRetryer(maxAttempts int, maxBackoff time.Duration) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
				so.MaxAttempts = maxAttempts
				so.MaxBackoff = maxBackoff
			})
		})
	}
}

// AWSClientFactory builds real SDK clients over a base aws.Config. Clients
// for the own account use the base credentials; clients for another account
// use the credentials of sts:AssumeRole of RoleName in that account
// (stscreds, behind an aws.CredentialsCache that refreshes them). Clients
// are cached per account and Region for the factory's lifetime (a warm
// Lambda container); cached credentials refresh before they expire.
type AWSClientFactory struct {
	base     aws.Config
	roleName string

	mu      sync.Mutex
	clients map[string]*Clients
	creds   map[string]aws.CredentialsProvider
}

// NewClientFactory returns a factory over base. roleName is the role
// assumed in other accounts ("" allows only the own account). When base
// has a custom endpoint (AWS_ENDPOINT_URL, a local emulator), S3 uses
// path-style addressing.
func NewClientFactory(base aws.Config, roleName string) *AWSClientFactory {
	return &AWSClientFactory{
		base:     base,
		roleName: roleName,
		clients:  map[string]*Clients{},
		creds:    map[string]aws.CredentialsProvider{},
	}
}

var _ ClientFactory = (*AWSClientFactory)(nil)

// Clients returns the cached clients for account and region.
func (f *AWSClientFactory) Clients(_ context.Context, account, region string) (*Clients, error) {
	if region == "" {
		region = f.base.Region
	}
	if region == "" {
		return nil, fmt.Errorf("clients for account %q: no Region (set AWS_REGION)", account)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := account + "|" + region
	if c, ok := f.clients[key]; ok {
		return c, nil
	}
	cfg := f.base.Copy()
	cfg.Region = region
	if account != "" {
		if f.roleName == "" {
			return nil, fmt.Errorf("clients for account %s: TRAILGUARD_ROLE_NAME is not set, so trailguard can act only in its own account", account)
		}
		p, ok := f.creds[account]
		if !ok {
			stsCfg := f.base.Copy()
			if stsCfg.Region == "" {
				stsCfg.Region = region
			}
			roleARN := fmt.Sprintf("arn:%s:iam::%s:role/%s", event.PartitionForRegion(region), account, f.roleName)
			p = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(stsCfg), roleARN,
				func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "trailguard" }))
			f.creds[account] = p
		}
		cfg.Credentials = p
	}
	pathStyle := cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != ""
	c := &Clients{
		CloudTrail:    cloudtrail.NewFromConfig(cfg),
		KMS:           kms.NewFromConfig(cfg),
		S3:            s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = o.UsePathStyle || pathStyle }),
		SNS:           sns.NewFromConfig(cfg),
		EC2:           ec2.NewFromConfig(cfg),
		STS:           sts.NewFromConfig(cfg),
		Organizations: organizations.NewFromConfig(cfg),
		SecurityHub:   awssecurityhub.NewFromConfig(cfg),
	}
	f.clients[key] = c
	return c, nil
}

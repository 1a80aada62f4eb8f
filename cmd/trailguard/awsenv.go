package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// errNoCredentials is returned when no AWS credentials can be found.
var errNoCredentials = errors.New("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")

// errNoRegion is returned when no AWS Region is configured.
var errNoRegion = errors.New("no AWS Region: set AWS_REGION (or a region in your AWS profile), or pass --region")

// loadAWS loads the SDK configuration the way config.LoadDefaultConfig
// does, reading the standard variables (AWS_REGION, AWS_DEFAULT_REGION,
// AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// AWS_ENDPOINT_URL, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE,
// AWS_EC2_METADATA_DISABLED) through getenv first, so that tests can set
// them without touching the process environment. fallbackRegion is used
// when neither the environment nor the profile names a Region. It then
// retrieves the
// credentials once, so that missing credentials are reported before any
// call, as errNoCredentials.
func loadAWS(ctx context.Context, getenv func(string) string, fallbackRegion string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	switch {
	case getenv("AWS_REGION") != "":
		opts = append(opts, awsconfig.WithRegion(getenv("AWS_REGION")))
	case getenv("AWS_DEFAULT_REGION") != "":
		opts = append(opts, awsconfig.WithRegion(getenv("AWS_DEFAULT_REGION")))
	}
	if f := getenv("AWS_CONFIG_FILE"); f != "" {
		opts = append(opts, awsconfig.WithSharedConfigFiles([]string{f}))
	}
	if f := getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{f}))
	}
	profile := getenv("AWS_PROFILE")
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case profile != "":
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	case id != "" && secret != "":
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))))
	}
	if e := getenv("AWS_ENDPOINT_URL"); e != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(e))
	}
	if strings.EqualFold(getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = fallbackRegion
	}
	if cfg.Region == "" {
		return aws.Config{}, errNoRegion
	}
	if cfg.Credentials == nil {
		return aws.Config{}, errNoCredentials
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return aws.Config{}, ctx.Err()
		}
		return aws.Config{}, fmt.Errorf("%w (%v)", errNoCredentials, err)
	}
	return cfg, nil
}

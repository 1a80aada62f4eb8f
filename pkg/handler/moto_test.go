package handler

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
)

// One moto server for the package: started on first use, stopped by
// TestMain. Tests using it hold motoMu (they Reset it).
var sharedMoto motoserver.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := sharedMoto.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "moto server:", err)
	}
	os.Exit(code)
}

// skipOrFail skips t with a visible reason, or fails it when CI=true.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	motoserver.SkipOrFail(t, format, args...)
}

func moto(t *testing.T) *motoserver.Server {
	t.Helper()
	return sharedMoto.Get(t)
}

const motoAccount = motoserver.AccountID

// world makes drift in moto with real SDK calls and reads it back.
type world struct {
	t   *testing.T
	srv *motoserver.Server
}

func (w world) cfg(region string) aws.Config {
	cfg, err := w.srv.AWSConfig(context.Background(), region)
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

func (w world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w world) bucket(name string) {
	w.t.Helper()
	_, err := s3.NewFromConfig(w.cfg("us-east-1"), motoserver.S3Options).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	w.must(err)
}

// key creates a key with moto's default (root-only) policy.
func (w world) key(alias string) string {
	w.t.Helper()
	c := kms.NewFromConfig(w.cfg("us-east-1"))
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT"})
	w.must(err)
	if alias != "" {
		_, err = c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId})
		w.must(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func (w world) trail(name, bucket, key string) string {
	w.t.Helper()
	in := &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket)}
	if key != "" {
		in.KmsKeyId = aws.String(key)
	}
	out, err := cloudtrail.NewFromConfig(w.cfg("us-east-1")).CreateTrail(context.Background(), in)
	w.must(err)
	_, err = cloudtrail.NewFromConfig(w.cfg("us-east-1")).StartLogging(context.Background(), &cloudtrail.StartLoggingInput{Name: in.Name})
	w.must(err)
	return aws.ToString(out.TrailARN)
}

func (w world) trailKey(name string) string {
	w.t.Helper()
	out, err := cloudtrail.NewFromConfig(w.cfg("us-east-1")).GetTrail(context.Background(), &cloudtrail.GetTrailInput{Name: aws.String(name)})
	w.must(err)
	return aws.ToString(out.Trail.KmsKeyId)
}

func (w world) keyState(key string) string {
	w.t.Helper()
	out, err := kms.NewFromConfig(w.cfg("us-east-1")).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(key)})
	w.must(err)
	return string(out.KeyMetadata.KeyState)
}

func (w world) disable(key string) {
	w.t.Helper()
	id := key[strings.LastIndex(key, "/")+1:]
	_, err := kms.NewFromConfig(w.cfg("us-east-1")).DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(id)})
	w.must(err)
}

package awsproxy

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// TestRespondAnswersInsteadOfTheTarget: a Respond answer replaces the
// target's, in the protocol's shape, headers included; other calls are
// forwarded.
func TestRespondAnswersInsteadOfTheTarget(t *testing.T) {
	p, err := Start(backend(t).URL, Options{Respond: func(c Call) *Answer {
		switch c.Operation {
		case "s3:HEADBucket":
			return &Answer{Status: http.StatusForbidden, Header: http.Header{"X-Amz-Bucket-Region": {"ap-south-1"}}, Code: "AccessDenied"}
		case "GetKeyPolicy":
			return &Answer{Code: "AccessDeniedException", Message: "denied as documented"}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := cfg(p.URL, 1)
	s3c := s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = true })
	region, err := manager.GetBucketRegion(context.Background(), s3c, "logs")
	if err != nil || region != "ap-south-1" {
		t.Errorf("GetBucketRegion = %q, %v; want the header's Region from a 403", region, err)
	}
	_, err = kms.NewFromConfig(c).GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String("k")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDeniedException" {
		t.Errorf("GetKeyPolicy error %v, want AccessDeniedException", err)
	}
	if _, err := kms.NewFromConfig(c).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("k")}); err != nil {
		t.Errorf("DescribeKey should be forwarded: %v", err)
	}
	if got := p.Faults()["GetKeyPolicy:answered"]; got != 1 {
		t.Errorf("answered GetKeyPolicy counted %d times", got)
	}
}

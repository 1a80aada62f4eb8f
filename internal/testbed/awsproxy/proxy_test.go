package awsproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func backend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case r.Header.Get("X-Amz-Target") != "":
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_, _ = io.WriteString(w, `{"KeyMetadata":{"KeyId":"k","Arn":"arn:aws:kms:us-east-1:111111111111:key/k"}}`)
		case r.URL.Query().Has("location"):
			_, _ = io.WriteString(w, `<?xml version="1.0"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>`)
		default:
			w.Header().Set("Content-Type", "text/xml")
			_, _ = io.WriteString(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Account>111111111111</Account><Arn>arn:aws:iam::111111111111:user/u</Arn><UserId>u</UserId></GetCallerIdentityResult></GetCallerIdentityResponse>`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func cfg(endpoint string, attempts int) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = time.Millisecond
			})
		},
	}
}

func TestOperationsAreNamedAndCounted(t *testing.T) {
	p, err := Start(backend(t).URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	c := cfg(p.URL, 1)
	if _, err := kms.NewFromConfig(c).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")}); err != nil {
		t.Fatalf("DescribeKey through proxy: %v", err)
	}
	if _, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity through proxy: %v", err)
	}
	out, err := s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = true }).GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("b")})
	if err != nil {
		t.Fatalf("GetBucketLocation through proxy: %v", err)
	}
	if out.LocationConstraint != "eu-west-1" {
		t.Fatalf("location = %q", out.LocationConstraint)
	}
	got := p.Calls()
	want := map[string]int{"DescribeKey": 1, "GetCallerIdentity": 1, "s3:GetBucketLocation": 1}
	for op, n := range want {
		if got[op] != n {
			t.Errorf("calls[%s] = %d, want %d (all: %v)", op, got[op], n, got)
		}
	}
	if p.Total() != 3 {
		t.Errorf("total = %d, want 3", p.Total())
	}
}

func TestFaultsAreClassifiedByTheSDK(t *testing.T) {
	tests := []struct {
		fault     Fault
		code      string
		retryable bool
	}{
		{Throttle, "ThrottlingException", true},
		{Internal, "InternalFailure", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			p, err := Start(backend(t).URL, Options{Rules: []Rule{{Operation: "DescribeKey", Rate: 1, Faults: []Fault{tt.fault}}}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			_, err = kms.NewFromConfig(cfg(p.URL, 3)).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("k")})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Fatalf("err = %v, want API error %s", err, tt.code)
			}
			if got := p.Calls()["DescribeKey"]; got != 3 {
				t.Errorf("DescribeKey calls = %d, want 3 (the SDK retried a retryable fault)", got)
			}
			if got := p.Faults()["DescribeKey:"+string(tt.fault)]; got != 3 {
				t.Errorf("faults = %d, want 3", got)
			}
		})
	}
}

func TestDropAndRateZero(t *testing.T) {
	p, err := Start(backend(t).URL, Options{Rules: []Rule{{Operation: "DescribeKey", Rate: 1, Faults: []Fault{Drop}}, {Rate: 0, Faults: []Fault{Throttle}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, err := kms.NewFromConfig(cfg(p.URL, 1)).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")}); err == nil || !strings.Contains(err.Error(), "request send failed") {
		t.Fatalf("dropped connection: err = %v, want a send failure", err)
	}
	if _, err := sts.NewFromConfig(cfg(p.URL, 1)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("rate 0 must never inject: %v", err)
	}
}

func TestLatencyIsAddedPerCall(t *testing.T) {
	p, err := Start(backend(t).URL, Options{Latency: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := kms.NewFromConfig(cfg(p.URL, 1)).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
	}
	// A lower bound only: the proxy must have waited at least 3 x 30 ms.
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Fatalf("3 sequential calls took %v, want >= 90ms", el)
	}
}

package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestPreflightRetriesConnectionReset: the access check survives one
// connection reset (CI saw "use of closed network connection" fail a
// command on its single attempt) and still reports an answer's account.
func TestPreflightRetriesConnectionReset(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// Reset the connection without an answer (SO_LINGER 0).
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/u</Arn><UserId>U</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`))
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		retryer func() aws.Retryer
		wantOK  bool
	}{
		{"one attempt (before)", func() aws.Retryer { return aws.NopRetryer{} }, false},
		{"preflight retryer", preflightRetryer, true},
	}
	for _, tt := range tests {
		calls.Store(0)
		client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), Retryer: tt.retryer()})
		out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if ok := err == nil && aws.ToString(out.Account) == "123456789012"; ok != tt.wantOK {
			t.Errorf("%s: GetCallerIdentity = %v, %v; want success %v", tt.name, out, err, tt.wantOK)
		}
	}
}

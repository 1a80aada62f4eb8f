package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
)

func TestExplain(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
	tests := []struct {
		name string
		err  error
		want string
		code int
	}{
		{"usage", usagef("invalid --output %q", "x"), `invalid --output "x" (see trailguard --help)`, exitError},
		{"no credentials", fmt.Errorf("%w (details)", errNoCredentials), errNoCredentials.Error(), exitError},
		{"refused", fmt.Errorf("check AWS access: %w", refused), "cannot reach AWS endpoint http://127.0.0.1:1: connection refused (check AWS_ENDPOINT_URL / network)", exitError},
		{"dns", &url.Error{Op: "Post", URL: "https://nowhere.invalid/", Err: &net.DNSError{Name: "nowhere.invalid", Err: "no such host"}},
			"cannot reach AWS endpoint https://nowhere.invalid: no such host nowhere.invalid (check AWS_ENDPOINT_URL / network)", exitError},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}, "(check the IAM permissions of your AWS identity)", exitError},
		{"bad token", &smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "bad"}, "(check your AWS credentials)", exitError},
		{"interrupted", fmt.Errorf("sweep: %w", context.Canceled), "interrupted", exitError},
		{"multi-line", errors.New("a\nb"), "a b", exitError},
		{"findings", &exitCodeError{code: exitFindings, err: errors.New("demo failed")}, "demo failed", exitFindings},
	}
	for _, tt := range tests {
		got := explain(tt.err, "")
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s: explain = %q, want it to contain %q", tt.name, got, tt.want)
		}
		if c := exitCode(tt.err); c != tt.code {
			t.Errorf("%s: exitCode = %d, want %d", tt.name, c, tt.code)
		}
	}
	if exitCode(nil) != exitOK || exitCode(errFindings) != exitFindings {
		t.Error("exitCode of nil or errFindings is wrong")
	}
}

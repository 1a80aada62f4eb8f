package securityhub

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/smithy-go"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// deniedHub answers DescribeHub with an API error and fails the test on
// any other call: nothing may be imported when the hub cannot be checked.
type deniedHub struct {
	t        *testing.T
	code     string
	describe int
}

func (h *deniedHub) DescribeHub(context.Context, *securityhub.DescribeHubInput, ...func(*securityhub.Options)) (*securityhub.DescribeHubOutput, error) {
	h.describe++
	return nil, &smithy.GenericAPIError{Code: h.code, Message: "injected"}
}

func (h *deniedHub) GetFindings(context.Context, *securityhub.GetFindingsInput, ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error) {
	h.t.Error("GetFindings called")
	return nil, errors.New("unexpected")
}

func (h *deniedHub) BatchImportFindings(context.Context, *securityhub.BatchImportFindingsInput, ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error) {
	h.t.Error("BatchImportFindings called")
	return nil, errors.New("unexpected")
}

func (h *deniedHub) BatchUpdateFindings(context.Context, *securityhub.BatchUpdateFindingsInput, ...func(*securityhub.Options)) (*securityhub.BatchUpdateFindingsOutput, error) {
	h.t.Error("BatchUpdateFindings called")
	return nil, errors.New("unexpected")
}

func TestPublishDescribeHubErrors(t *testing.T) {
	tests := []struct {
		code      string
		wantErr   bool
		describes int // over two Publish calls
	}{
		{"AccessDeniedException", true, 2},   // an error, not cached: tried again next run
		{"InvalidAccessException", false, 1}, // not enabled: skipped, cached
		{"ResourceNotFoundException", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			h := &deniedHub{t: t, code: tt.code}
			p := &Publisher{Clients: func(context.Context, string, string) (API, error) { return h, nil }}
			trail := Trail{ARN: trailA, Account: motoAccount, Region: motoRegion, Settled: true, Findings: []compliance.Finding{{Rule: compliance.KeyDisabled}}}
			for range 2 {
				sum, err := p.Publish(context.Background(), []Trail{trail})
				if (err != nil) != tt.wantErr {
					t.Fatalf("error %v, want error %v", err, tt.wantErr)
				}
				if err != nil && !strings.Contains(err.Error(), "describe security hub of "+motoAccount) {
					t.Errorf("error %q does not name the operation and account", err)
				}
				if sum.Imported != 0 {
					t.Errorf("imported %d", sum.Imported)
				}
			}
			if h.describe != tt.describes {
				t.Errorf("DescribeHub called %d times, want %d", h.describe, tt.describes)
			}
		})
	}
	clientErr := errors.New("no role")
	p := &Publisher{Clients: func(context.Context, string, string) (API, error) { return nil, clientErr }}
	if _, err := p.Publish(context.Background(), []Trail{{ARN: trailA, Account: motoAccount, Region: motoRegion}}); !errors.Is(err, clientErr) {
		t.Errorf("client error %v not returned", err)
	}
}

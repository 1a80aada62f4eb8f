package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fixture reads testdata/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutated returns fixture name decoded, changed by f, and encoded again.
func mutated(t testing.TB, name string, f func(ev, detail map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(fixture(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	detail, _ := ev["detail"].(map[string]any)
	f(ev, detail)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func params(d map[string]any) map[string]any {
	p, _ := d["requestParameters"].(map[string]any)
	return p
}

const (
	keyARN1     = "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	keyID1      = "1234abcd-12ab-34cd-56ef-1234567890ab"
	huge        = 1 << 20
	wantIgnored = "ignored"
	wantBad     = "malformed"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		want    Request
		wantErr string // "", wantIgnored or wantBad
		errHas  string // substring of the error
	}{
		{
			name: "CreateTrail prefers responseElements.trailARN",
			raw:  fixture(t, "create_trail.json"),
			want: Request{Kind: KindTrail, EventName: "CreateTrail", EventID: "3074414d-c626-42aa-984b-68ff152d6ab7",
				Account: "111122223333", Region: "us-east-2", Partition: "aws",
				Trail: "arn:aws:cloudtrail:us-east-2:111122223333:trail/management-events"},
		},
		{
			name: "CreateTrail without responseElements uses the name",
			raw:  mutated(t, "create_trail.json", func(_, d map[string]any) { d["responseElements"] = nil }),
			want: Request{Kind: KindTrail, EventName: "CreateTrail", EventID: "3074414d-c626-42aa-984b-68ff152d6ab7",
				Account: "111122223333", Region: "us-east-2", Partition: "aws", Trail: "management-events"},
		},
		{
			name: "UpdateTrail with the name given as an ARN",
			raw:  fixture(t, "update_trail_arn.json"),
			want: Request{Kind: KindTrail, EventName: "UpdateTrail", EventID: "a4f1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b",
				Account: "111122223333", Region: "us-east-1", Partition: "aws",
				Trail: "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-audit"},
		},
		{
			name: "UpdateTrail name ARN without responseElements",
			raw:  mutated(t, "update_trail_arn.json", func(_, d map[string]any) { delete(d, "responseElements") }),
			want: Request{Kind: KindTrail, EventName: "UpdateTrail", EventID: "a4f1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b",
				Account: "111122223333", Region: "us-east-1", Partition: "aws",
				Trail: "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-audit"},
		},
		{
			name: "UpdateTrail with the name given as a name",
			raw:  fixture(t, "update_trail_name.json"),
			want: Request{Kind: KindTrail, EventName: "UpdateTrail", EventID: "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b",
				Account: "111122223333", Region: "eu-west-1", Partition: "aws", Trail: "data-events_eu"},
		},
		{
			name: "PutKeyPolicy keyId as id: key ARN from resources",
			raw:  fixture(t, "put_key_policy_id.json"),
			want: Request{Kind: KindKey, EventName: "PutKeyPolicy", EventID: "0c85a6b5-3d6f-4ce8-9a3b-8a4f2e3c1d0e",
				Account: "111122223333", Region: "us-east-2", Partition: "aws", Key: keyARN1},
		},
		{
			name: "PutKeyPolicy keyId as id without resources",
			raw:  mutated(t, "put_key_policy_id.json", func(_, d map[string]any) { delete(d, "resources") }),
			want: Request{Kind: KindKey, EventName: "PutKeyPolicy", EventID: "0c85a6b5-3d6f-4ce8-9a3b-8a4f2e3c1d0e",
				Account: "111122223333", Region: "us-east-2", Partition: "aws", Key: keyID1},
		},
		{
			name: "PutKeyPolicy key ARN in the EventBridge resources",
			raw: mutated(t, "put_key_policy_id.json", func(e, d map[string]any) {
				delete(d, "resources")
				e["resources"] = []any{"arn:aws:kms:us-east-2:111122223333:key/00000000-1111-2222-3333-444444444444"}
			}),
			want: Request{Kind: KindKey, EventName: "PutKeyPolicy", EventID: "0c85a6b5-3d6f-4ce8-9a3b-8a4f2e3c1d0e",
				Account: "111122223333", Region: "us-east-2", Partition: "aws",
				Key: "arn:aws:kms:us-east-2:111122223333:key/00000000-1111-2222-3333-444444444444"},
		},
		{
			name: "PutKeyPolicy keyId as ARN",
			raw:  fixture(t, "put_key_policy_arn.json"),
			want: Request{Kind: KindKey, EventName: "PutKeyPolicy", EventID: "1d96b7c6-4e70-4df9-ab4c-9b5f3f4d2e1f",
				Account: "111122223333", Region: "us-east-2", Partition: "aws", Key: keyARN1},
		},
		{
			name: "PutKeyPolicy keyId as alias name",
			raw:  fixture(t, "put_key_policy_alias.json"),
			want: Request{Kind: KindKey, EventName: "PutKeyPolicy", EventID: "2ea7c8d7-5f81-4e0a-bc5d-0c6a4a5e3f20",
				Account: "111122223333", Region: "us-east-2", Partition: "aws", Key: "alias/trailguard-cloudtrail"},
		},
		{
			name: "PutKeyPolicy keyId as alias ARN",
			raw:  fixture(t, "put_key_policy_alias_arn.json"),
			want: Request{Kind: KindKey, EventName: "PutKeyPolicy", EventID: "3fb8d9e8-6092-4f1b-8d6e-1d7b5b6f4031",
				Account: "111122223333", Region: "us-east-2", Partition: "aws", Key: "arn:aws:kms:us-east-2:111122223333:alias/shared-logs"},
		},
		{
			name: "DisableKey of a multi-Region key",
			raw:  fixture(t, "disable_key.json"),
			want: Request{Kind: KindKey, EventName: "DisableKey", EventID: "40c9eaf9-71a3-4a2c-9e7f-2e8c6c7a5142",
				Account: "111122223333", Region: "eu-central-1", Partition: "aws",
				Key: "arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
		},
		{
			name: "ScheduleKeyDeletion",
			raw:  fixture(t, "schedule_key_deletion.json"),
			want: Request{Kind: KindKey, EventName: "ScheduleKeyDeletion", EventID: "3c4226b0-1e81-48a8-a333-7fa5f3cbd118",
				Account: "111122223333", Region: "us-west-2", Partition: "aws",
				Key: "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"},
		},
		{
			name: "ScheduleKeyDeletion: key ARN from responseElements.keyId",
			raw:  mutated(t, "schedule_key_deletion.json", func(_, d map[string]any) { delete(d, "resources") }),
			want: Request{Kind: KindKey, EventName: "ScheduleKeyDeletion", EventID: "3c4226b0-1e81-48a8-a333-7fa5f3cbd118",
				Account: "111122223333", Region: "us-west-2", Partition: "aws",
				Key: "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"},
		},
		{
			name: "aws-cn partition",
			raw:  fixture(t, "china_create_trail.json"),
			want: Request{Kind: KindTrail, EventName: "CreateTrail", EventID: "62ebac1b-93c5-4c4e-b091-4a0e8e9c7364",
				Account: "111122223333", Region: "cn-north-1", Partition: "aws-cn",
				Trail: "arn:aws-cn:cloudtrail:cn-north-1:111122223333:trail/cn-audit"},
		},
		{
			name: "aws-cn partition from the caller ARN when the trail is a name",
			raw:  mutated(t, "china_create_trail.json", func(_, d map[string]any) { d["responseElements"] = nil }),
			want: Request{Kind: KindTrail, EventName: "CreateTrail", EventID: "62ebac1b-93c5-4c4e-b091-4a0e8e9c7364",
				Account: "111122223333", Region: "cn-north-1", Partition: "aws-cn", Trail: "cn-audit"},
		},
		{
			name: "aws-us-gov partition from the Region when nothing else says",
			raw: mutated(t, "update_trail_name.json", func(e, d map[string]any) {
				d["awsRegion"] = "us-gov-west-1"
				delete(d, "userIdentity")
			}),
			want: Request{Kind: KindTrail, EventName: "UpdateTrail", EventID: "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b",
				Account: "111122223333", Region: "us-gov-west-1", Partition: "aws-us-gov", Trail: "data-events_eu"},
		},
		{
			name: "account and Region fall back to the envelope",
			raw: mutated(t, "update_trail_name.json", func(e, d map[string]any) {
				delete(d, "recipientAccountId")
				delete(d, "awsRegion")
				delete(d, "eventID")
				e["account"] = "444455556666"
				e["region"] = "ap-southeast-2"
			}),
			want: Request{Kind: KindTrail, EventName: "UpdateTrail", EventID: "9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9",
				Account: "444455556666", Region: "ap-southeast-2", Partition: "aws", Trail: "data-events_eu"},
		},
		{
			name: "eventSource missing: source decides",
			raw:  mutated(t, "disable_key.json", func(_, d map[string]any) { delete(d, "eventSource") }),
			want: Request{Kind: KindKey, EventName: "DisableKey", EventID: "40c9eaf9-71a3-4a2c-9e7f-2e8c6c7a5142",
				Account: "111122223333", Region: "eu-central-1", Partition: "aws",
				Key: "arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
		},

		// Ignored events.
		{name: "errorCode AccessDenied", raw: fixture(t, "access_denied.json"), wantErr: wantIgnored, errHas: `errorCode "AccessDenied"`},
		{name: "StopLogging is a trail event", raw: fixture(t, "stop_logging.json"),
			want: Request{Kind: KindTrail, EventName: "StopLogging", EventID: "73fcbd2c-a4d6-4d5f-80a2-5b1f9fad8475",
				Account: "111122223333", Region: "eu-west-1", Partition: "aws", Trail: "data-events_eu"}},
		{name: "unhandled eventName", raw: mutated(t, "stop_logging.json", func(_, d map[string]any) { d["eventName"] = "StartLogging" }),
			wantErr: wantIgnored, errHas: `"StartLogging"`},
		{
			name: "not an API call event",
			raw: mutated(t, "create_trail.json", func(e, _ map[string]any) {
				e["detail-type"] = "AWS Console Sign In via CloudTrail"
			}),
			wantErr: wantIgnored, errHas: "not an API call event",
		},
		{
			name:    "trail event name from the KMS source",
			raw:     mutated(t, "create_trail.json", func(_, d map[string]any) { d["eventSource"] = "kms.amazonaws.com" }),
			wantErr: wantIgnored, errHas: "not handled",
		},
		{
			name:    "key event name from the CloudTrail source",
			raw:     mutated(t, "disable_key.json", func(_, d map[string]any) { d["eventSource"] = "cloudtrail.amazonaws.com" }),
			wantErr: wantIgnored, errHas: "not handled",
		},
		{
			name: "PutKeyPolicy without any key id",
			raw: mutated(t, "put_key_policy_id.json", func(_, d map[string]any) {
				delete(d, "resources")
				d["requestParameters"] = nil
			}),
			wantErr: wantIgnored, errHas: "without a usable key id",
		},
		{
			name: "PutKeyPolicy with a garbage key id",
			raw: mutated(t, "put_key_policy_id.json", func(_, d map[string]any) {
				delete(d, "resources")
				params(d)["keyId"] = "../../etc/passwd"
			}),
			wantErr: wantIgnored, errHas: "without a usable key id",
		},
		{
			name: "PutKeyPolicy with a huge key id",
			raw: mutated(t, "put_key_policy_id.json", func(_, d map[string]any) {
				delete(d, "resources")
				params(d)["keyId"] = strings.Repeat("a", huge)
			}),
			wantErr: wantIgnored, errHas: "bytes)",
		},
		{
			name: "resources with a non-key ARN are not used",
			raw: mutated(t, "put_key_policy_id.json", func(_, d map[string]any) {
				d["resources"] = []any{map[string]any{"ARN": "arn:aws:s3:::bucket", "type": "AWS::S3::Bucket"}}
				params(d)["keyId"] = "not a key"
			}),
			wantErr: wantIgnored, errHas: "without a usable key id",
		},
		{
			name: "unhandled event with oddly typed parameters is ignored, not malformed",
			raw: mutated(t, "stop_logging.json", func(e, d map[string]any) {
				d["eventName"] = "StartLogging"
				params(d)["name"] = map[string]any{"nested": true}
				d["resources"] = "not a list"
				d["userIdentity"] = 7
				e["resources"] = []any{map[string]any{"x": 1}}
			}),
			wantErr: wantIgnored, errHas: "not handled",
		},
		{
			name:    "failed call with oddly typed parameters is ignored",
			raw:     mutated(t, "access_denied.json", func(_, d map[string]any) { d["requestParameters"] = []any{1, 2} }),
			wantErr: wantIgnored, errHas: "AccessDenied",
		},
		{
			name: "userIdentity of the wrong type does not matter",
			raw:  mutated(t, "update_trail_name.json", func(_, d map[string]any) { d["userIdentity"] = "root" }),
			want: Request{Kind: KindTrail, EventName: "UpdateTrail", EventID: "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b",
				Account: "111122223333", Region: "eu-west-1", Partition: "aws", Trail: "data-events_eu"},
		},
		{
			name: "key event with EventBridge resources of the wrong type",
			raw: mutated(t, "put_key_policy_id.json", func(e, _ map[string]any) {
				e["resources"] = []any{map[string]any{"ARN": keyARN1}}
			}),
			wantErr: wantBad, errHas: "resources",
		},
		{
			name:    "key event with detail.resources of the wrong type",
			raw:     mutated(t, "put_key_policy_id.json", func(_, d map[string]any) { d["resources"] = "x" }),
			wantErr: wantBad, errHas: "PutKeyPolicy",
		},
		{
			name:    "UpdateTrail without a name",
			raw:     mutated(t, "update_trail_name.json", func(_, d map[string]any) { delete(params(d), "name") }),
			wantErr: wantIgnored, errHas: "without a usable trail name",
		},
		{
			name:    "UpdateTrail with a huge name",
			raw:     mutated(t, "update_trail_name.json", func(_, d map[string]any) { params(d)["name"] = strings.Repeat("t", huge) }),
			wantErr: wantIgnored, errHas: "bytes)",
		},
		{
			name:    "UpdateTrail with an invalid name",
			raw:     mutated(t, "update_trail_name.json", func(_, d map[string]any) { params(d)["name"] = "trail name with spaces" }),
			wantErr: wantIgnored, errHas: "without a usable trail name",
		},

		// Malformed events.
		{name: "truncated JSON", raw: fixture(t, "truncated.json"), wantErr: wantBad},
		{name: "detail is a string", raw: fixture(t, "detail_string.json"), wantErr: wantBad, errHas: "detail"},
		{name: "empty input", raw: nil, wantErr: wantBad},
		{name: "JSON null", raw: []byte("null"), wantErr: wantBad},
		{name: "JSON array", raw: []byte(`[{"detail-type":"AWS API Call via CloudTrail"}]`), wantErr: wantBad},
		{name: "trailing data", raw: append(fixture(t, "create_trail.json"), []byte(` {}`)...), wantErr: wantBad},
		{
			name:    "detail missing",
			raw:     mutated(t, "create_trail.json", func(e, _ map[string]any) { delete(e, "detail") }),
			wantErr: wantBad, errHas: "no detail",
		},
		{
			name:    "eventName is a number",
			raw:     mutated(t, "create_trail.json", func(_, d map[string]any) { d["eventName"] = 42 }),
			wantErr: wantBad,
		},
		{
			name:    "requestParameters.name is an object",
			raw:     mutated(t, "update_trail_name.json", func(_, d map[string]any) { params(d)["name"] = map[string]any{"x": 1} }),
			wantErr: wantBad,
		},
		{
			name: "no account anywhere",
			raw: mutated(t, "create_trail.json", func(e, d map[string]any) {
				delete(d, "recipientAccountId")
				delete(e, "account")
			}),
			wantErr: wantBad, errHas: "account",
		},
		{
			name:    "account not 12 digits",
			raw:     mutated(t, "create_trail.json", func(_, d map[string]any) { d["recipientAccountId"] = "1111-2222-3333" }),
			wantErr: wantBad, errHas: "12-digit",
		},
		{
			name: "no Region anywhere",
			raw: mutated(t, "disable_key.json", func(e, d map[string]any) {
				delete(d, "awsRegion")
				delete(e, "region")
			}),
			wantErr: wantBad, errHas: "region",
		},
		{
			name:    "huge Region",
			raw:     mutated(t, "disable_key.json", func(_, d map[string]any) { d["awsRegion"] = strings.Repeat("x", huge) }),
			wantErr: wantBad, errHas: "bytes)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.raw)
			switch tt.wantErr {
			case "":
				if err != nil {
					t.Fatalf("Decode error: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Decode (-want +got):\n%s", diff)
				}
				return
			case wantIgnored:
				if !errors.Is(err, ErrIgnored) || errors.Is(err, ErrMalformed) {
					t.Fatalf("Decode = %+v, %v; want an ErrIgnored error", got, err)
				}
			case wantBad:
				if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrIgnored) {
					t.Fatalf("Decode = %+v, %v; want an ErrMalformed error", got, err)
				}
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error is %d bytes long; event values must be shortened", len(err.Error()))
			}
			if got != (Request{}) {
				t.Errorf("on error Decode returned %+v, want the zero Request", got)
			}
		})
	}
}

func TestRequestString(t *testing.T) {
	tests := []struct {
		r    Request
		want string
	}{
		{
			Request{Kind: KindTrail, EventName: "UpdateTrail", EventID: "e1", Account: "111122223333", Region: "us-east-1", Trail: "t"},
			"UpdateTrail trail t in 111122223333/us-east-1 (event e1)",
		},
		{
			Request{Kind: KindKey, EventName: "DisableKey", Account: "111122223333", Region: "eu-west-1", Key: keyARN1, Trail: "ignored"},
			"DisableKey key " + keyARN1 + " in 111122223333/eu-west-1",
		},
		{Request{}, " Kind(0)  in /"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestResourceRegion(t *testing.T) {
	tests := []struct {
		r    Request
		want string
	}{
		{Request{Kind: KindKey, Region: "us-east-1", Key: "arn:aws:kms:us-west-2:111122223333:key/" + keyID1}, "us-west-2"},
		{Request{Kind: KindKey, Region: "us-east-1", Key: keyID1}, "us-east-1"},
		{Request{Kind: KindKey, Region: "us-east-1", Key: "alias/x"}, "us-east-1"},
		{Request{Kind: KindTrail, Region: "eu-west-1", Trail: "arn:aws-cn:cloudtrail:cn-north-1:111122223333:trail/t"}, "cn-north-1"},
		{Request{Kind: KindTrail, Region: "eu-west-1", Trail: "t1"}, "eu-west-1"},
	}
	for _, tt := range tests {
		if got := tt.r.ResourceRegion(); got != tt.want {
			t.Errorf("%+v.ResourceRegion() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestPartitionForRegion(t *testing.T) {
	tests := map[string]string{
		"us-east-1": "aws", "eu-central-2": "aws", "cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn",
		"us-gov-west-1": "aws-us-gov", "us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b",
		"eu-isoe-west-1": "aws-iso-e", "us-isof-south-1": "aws-iso-f", "eusc-de-east-1": "aws-eusc",
	}
	for region, want := range tests {
		if got := PartitionForRegion(region); got != want {
			t.Errorf("PartitionForRegion(%q) = %q, want %q", region, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindTrail: "trail", KindKey: "key", 0: "Kind(0)", 7: "Kind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// checkDecoded asserts Decode's contract for any input.
func checkDecoded(t *testing.T, raw []byte) {
	t.Helper()
	r, err := Decode(raw)
	if err != nil {
		if errors.Is(err, ErrIgnored) == errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v must wrap exactly one of ErrIgnored, ErrMalformed", err)
		}
		if r != (Request{}) {
			t.Fatalf("on error Decode returned %+v", r)
		}
		return
	}
	if r.Kind != KindTrail && r.Kind != KindKey {
		t.Fatalf("Decode returned Kind %v: %+v", r.Kind, r)
	}
	if r.Account == "" || r.Region == "" || r.Partition == "" || r.EventName == "" {
		t.Fatalf("Decode returned a request without account, Region, partition or event name: %+v", r)
	}
	if (r.Kind == KindTrail) == (r.Trail == "") || (r.Kind == KindKey) == (r.Key == "") {
		t.Fatalf("Decode returned a request whose resource does not match its kind: %+v", r)
	}
	if len(r.Trail) > maxID || len(r.Key) > maxID {
		t.Fatalf("Decode returned an oversized resource id (%d, %d bytes)", len(r.Trail), len(r.Key))
	}
	_ = r.String()
	_ = r.ResourceRegion()
}

func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			f.Add(fixture(f, e.Name()))
		}
	}
	f.Add([]byte(`{"detail-type":"AWS API Call via CloudTrail","account":"111122223333","region":"us-east-1","detail":{"eventName":"UpdateTrail","eventSource":"cloudtrail.amazonaws.com","requestParameters":{"name":"abc"}}}`))
	f.Add([]byte(`{"detail-type":"AWS API Call via CloudTrail","source":"aws.kms","account":"111122223333","region":"us-east-1","detail":{"eventName":"DisableKey","requestParameters":{"keyId":"alias/x"}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"detail":"x"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDecoded(t, raw)
	})
}

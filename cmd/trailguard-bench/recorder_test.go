package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// at returns a call of op on resource from ms start to end ms after t0.
func at(op, resource, request string, start, end int) call {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return call{Op: op, Resource: resource, Request: request, Status: 200,
		Start: t0.Add(time.Duration(start) * time.Millisecond), End: t0.Add(time.Duration(end) * time.Millisecond)}
}

func TestLongestChain(t *testing.T) {
	tests := []struct {
		name  string
		calls []call
		want  int
		chain []string
	}{
		{"none", nil, 0, nil},
		{"one", []call{at("GetTrail", "", "a", 0, 20)}, 1, []string{"GetTrail"}},
		{"parallel calls are one round", []call{
			at("GetTrail", "", "a", 0, 20),
			at("ListTags", "", "b", 21, 40), at("GetTrailStatus", "", "c", 21, 45), at("DescribeKey", "", "d", 22, 41),
		}, 2, []string{"GetTrail", "ListTags"}},
		{"a call that starts before the previous ends does not chain", []call{
			at("A", "", "a", 0, 20), at("B", "", "b", 10, 30), at("C", "", "c", 31, 50),
		}, 2, []string{"A", "C"}},
		{"three sequential", []call{
			at("A", "", "a", 0, 20), at("B", "", "b", 20, 40), at("C", "", "c", 40, 60),
		}, 3, []string{"A", "B", "C"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, chain := longestChain(tt.calls)
			if n != tt.want || !slices.Equal(chain, tt.chain) {
				t.Errorf("longestChain = %d %v, want %d %v", n, chain, tt.want, tt.chain)
			}
		})
	}
}

func TestAnalyseKnownAnswers(t *testing.T) {
	calls := []call{
		at("GetKeyPolicy", "key:k1", "GetKeyPolicy s key:k1", 0, 20),
		at("DescribeKey", "key:k1", "DescribeKey s key:k1", 0, 20),
		// Same question, nothing written, but the next call on k1 is
		// a write: the re-read before a write.
		at("GetKeyPolicy", "key:k1", "GetKeyPolicy s key:k1", 25, 45),
		// Same operation, another key: a new question.
		at("GetKeyPolicy", "key:k2", "GetKeyPolicy s key:k2", 25, 45),
		// The run writes k1, then reads it: follows from the write.
		at("PutKeyPolicy", "key:k1", "PutKeyPolicy s {...}", 50, 70),
		at("DescribeKey", "key:k1", "DescribeKey s key:k1", 75, 95),
		// Asked again after that, with no new write: known.
		at("DescribeKey", "key:k1", "DescribeKey s key:k1", 100, 120),
		// The state table: the loop guard's item read, written, read
		// again before the next write: a new question each time (other
		// writers share it), and only an unchanged re-read is known.
		at("GetItem", "item:guard|g1", "GetItem s {g1}", 125, 130),
		at("PutItem", "item:guard|g1", "PutItem s {g1 v1}", 131, 135),
		at("GetItem", "item:guard|g1", "GetItem s {g1}", 136, 140),
		at("GetItem", "item:guard|g1", "GetItem s {g1}", 141, 145),
		// A throttled call asked nothing that was answered.
		{Op: "GetKeyPolicy", Resource: "key:k2", Request: "GetKeyPolicy s key:k2", Status: 400,
			Start: time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC), End: time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)},
	}
	a := analyse(calls)
	if want := []string{"DescribeKey key:k1", "GetItem item:guard|g1"}; !slices.Equal(a.Repeated, want) {
		t.Errorf("Repeated = %v, want %v", a.Repeated, want)
	}
	if want := []string{"GetKeyPolicy key:k1"}; !slices.Equal(a.ReReadBeforeWrite, want) {
		t.Errorf("ReReadBeforeWrite = %v, want %v", a.ReReadBeforeWrite, want)
	}
	if want := []string{"DescribeKey key:k1"}; !slices.Equal(a.ReadAfterOwnWrite, want) {
		t.Errorf("ReadAfterOwnWrite = %v, want %v", a.ReadAfterOwnWrite, want)
	}
	if a.Calls != len(calls) || a.ByOp["GetKeyPolicy"] != 4 || a.ByOp["PutKeyPolicy"] != 1 {
		t.Errorf("counts: %d calls, by op %v", a.Calls, a.ByOp)
	}
	if a.MeanMS["PutKeyPolicy"] != 20 {
		t.Errorf("mean PutKeyPolicy = %v ms, want 20", a.MeanMS["PutKeyPolicy"])
	}
}

func TestAnalyseReReadBeforeWrite(t *testing.T) {
	describe := func(start int) call { return at("DescribeKey", "key:k1", "DescribeKey s key:k1", start, start+5) }
	policy := func(start int) call { return at("GetKeyPolicy", "key:k1", "GetKeyPolicy s key:k1", start, start+5) }
	lease := func(start int) call { return at("PutItem", "item:lease|k1", "PutItem s {lease}", start, start+5) }
	tests := []struct {
		name                         string
		calls                        []call
		repeated, afterWrite, reRead []string
	}{
		{"re-read under the lease, then the write: deliberate", []call{
			describe(0), lease(10), describe(20), at("CancelKeyDeletion", "key:k1", "CancelKeyDeletion s k1", 30, 35),
		}, nil, nil, []string{"DescribeKey key:k1"}},
		{"other resources between the re-read and the write do not count", []call{
			policy(0), lease(10), policy(20), at("GetTrail", "trail:t", "GetTrail s t", 26, 30),
			at("GetItem", "item:guard|k1", "GetItem s {guard}", 31, 33), at("PutKeyPolicy", "key:k1", "PutKeyPolicy s {...}", 40, 45),
		}, nil, nil, []string{"GetKeyPolicy key:k1"}},
		{"read after own write, then another write: deliberate", []call{
			at("CancelKeyDeletion", "key:k1", "CancelKeyDeletion s k1", 0, 5), lease(10), describe(20),
			at("EnableKey", "key:k1", "EnableKey s k1", 30, 35),
		}, nil, nil, []string{"DescribeKey key:k1"}},
		{"re-read followed by nothing: known", []call{
			describe(0), lease(10), describe(20),
		}, []string{"DescribeKey key:k1"}, nil, nil},
		{"re-read followed by another read of the resource: known", []call{
			describe(0), describe(10), policy(20), at("PutKeyPolicy", "key:k1", "PutKeyPolicy s {...}", 30, 35),
		}, []string{"DescribeKey key:k1"}, nil, nil},
		{"re-read followed only by a write to another resource: known", []call{
			describe(0), describe(10), at("UpdateTrail", "trail:t", "UpdateTrail s t", 20, 25),
		}, []string{"DescribeKey key:k1"}, nil, nil},
		{"key read again after its own write, then the UpdateTrail onto it: deliberate", []call{
			at("PutKeyPolicy", "key:k1", "PutKeyPolicy s {...}", 0, 5), describe(10), policy(10),
			at("UpdateTrail", "trail:t", `UpdateTrail s {"KmsKeyId":"arn:aws:kms:us-east-1:1:key/k1","Name":"t"}`, 20, 25),
		}, nil, nil, []string{"DescribeKey key:k1", "GetKeyPolicy key:k1"}},
		{"the run's next write is elsewhere, the UpdateTrail onto the key later: known", []call{
			at("PutKeyPolicy", "key:k1", "PutKeyPolicy s {...}", 0, 5), describe(10),
			at("PutKeyPolicy", "key:k2", "PutKeyPolicy s {...}", 20, 25),
			at("UpdateTrail", "trail:t", `UpdateTrail s {"KmsKeyId":"arn:aws:kms:us-east-1:1:key/k1","Name":"t"}`, 30, 35),
		}, nil, []string{"DescribeKey key:k1"}, nil},
		{"read after own write followed by nothing: known", []call{
			at("PutKeyPolicy", "key:k1", "PutKeyPolicy s {...}", 0, 5), policy(10),
		}, nil, []string{"GetKeyPolicy key:k1"}, nil},
		{"a failed write is not the next write", []call{
			describe(0), describe(10), {Op: "CancelKeyDeletion", Resource: "key:k1", Request: "CancelKeyDeletion s k1", Status: 400,
				Start: time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC), End: time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)},
		}, []string{"DescribeKey key:k1"}, nil, nil},
		{"account-wide re-read before a write of no resource: known", []call{
			at("DescribeTrails", "", "DescribeTrails s {}", 0, 5), at("DescribeTrails", "", "DescribeTrails s {}", 10, 15),
			at("Publish", "", "Publish s x", 20, 25),
		}, []string{"DescribeTrails "}, nil, nil},
		{"a state table item re-read before its write stays known", []call{
			at("GetItem", "item:guard|g1", "GetItem s {g1}", 0, 5), at("GetItem", "item:guard|g1", "GetItem s {g1}", 10, 15),
			at("PutItem", "item:guard|g1", "PutItem s {g1 v1}", 20, 25),
		}, []string{"GetItem item:guard|g1"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := analyse(tt.calls)
			if !slices.Equal(a.Repeated, tt.repeated) || !slices.Equal(a.ReadAfterOwnWrite, tt.afterWrite) || !slices.Equal(a.ReReadBeforeWrite, tt.reRead) {
				t.Errorf("repeated %q, after own write %q, re-read before write %q; want %q, %q, %q",
					a.Repeated, a.ReadAfterOwnWrite, a.ReReadBeforeWrite, tt.repeated, tt.afterWrite, tt.reRead)
			}
		})
	}
}

func TestCredentialScope(t *testing.T) {
	tests := []struct{ auth, want string }{
		{"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-west-2/cloudtrail/aws4_request, SignedHeaders=host, Signature=abc", "AKID/us-west-2"},
		{"", ""},
		{"Credential=odd", "odd"},
	}
	for _, tt := range tests {
		if got := credentialScope(tt.auth); got != tt.want {
			t.Errorf("credentialScope(%q) = %q, want %q", tt.auth, got, tt.want)
		}
	}
}

func TestResourceOf(t *testing.T) {
	u := func(s string) *url.URL {
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		op, url, body, want string
	}{
		{"GetKeyPolicy", "http://h/", `{"KeyId":"arn:aws:kms:us-east-1:1:key/abc","PolicyName":"default"}`, "key:abc"},
		{"EnableKey", "http://h/", `{"KeyId":"abc"}`, "key:abc"},
		{"DescribeKey", "http://h/", `{"KeyId":"alias/x"}`, "key:alias/x"},
		{"GetTrail", "http://h/", `{"Name":"arn:aws:cloudtrail:us-east-1:1:trail/t"}`, "trail:t"},
		{"ListTags", "http://h/", `{"ResourceIdList":["arn:aws:cloudtrail:us-east-1:1:trail/t"]}`, "trail:t"},
		{"s3:GetBucketLocation", "http://h/bucket?location", "", "bucket:bucket"},
		{"DescribeTrails", "http://h/", `{"includeShadowTrails":true}`, ""},
		{"GetCallerIdentity", "http://h/", "Action=GetCallerIdentity", ""},
		{"GetItem", "http://h/", `{"TableName":"t","Key":{"pk":{"S":"guard"},"sk":{"S":"k for trail t"}}}`, "item:guard|k for trail t"},
		{"PutItem", "http://h/", `{"TableName":"t","Item":{"pk":{"S":"lease"},"sk":{"S":"arn:k"},"until_ms":{"N":"1"}}}`, "item:lease|arn:k"},
	}
	for _, tt := range tests {
		if got := resourceOf(tt.op, u(tt.url), []byte(tt.body)); got != tt.want {
			t.Errorf("resourceOf(%s, %s) = %q, want %q", tt.op, tt.body, got, tt.want)
		}
	}
}

// fakeDoer answers every request with body.
type fakeDoer struct{ body string }

func (f fakeDoer) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(f.body)), Header: http.Header{}}, nil
}

func TestRecorderNamesAliasedKeysByTheirID(t *testing.T) {
	rec := newRecorder(fakeDoer{body: `{"KeyMetadata":{"KeyId":"k-123","Arn":"arn:aws:kms:us-east-1:1:key/k-123"}}`})
	do := func(body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/kms/aws4_request, Signature=x")
		resp, err := rec.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "k-123") {
			t.Fatalf("the response body was not passed on: %q", b)
		}
	}
	do(`{"KeyId":"alias/trailguard-cloudtrail"}`)
	do(`{"KeyId":"arn:aws:kms:us-east-1:1:key/k-123"}`)
	calls := rec.take()
	if len(calls) != 2 {
		t.Fatalf("%d calls recorded, want 2", len(calls))
	}
	for _, c := range calls {
		if c.Op != "DescribeKey" || c.Resource != "key:k-123" {
			t.Errorf("call %+v: want DescribeKey of key:k-123", c)
		}
	}
	if a := analyse(calls); len(a.Repeated) != 1 {
		t.Errorf("describing by alias then by ARN: repeated %v, want one", a.Repeated)
	}
	if len(rec.take()) != 0 {
		t.Error("take did not clear the recorded calls")
	}
}

func TestIsRead(t *testing.T) {
	for op, want := range map[string]bool{
		"GetKeyPolicy": true, "DescribeTrails": true, "ListTags": true, "s3:GetBucketLocation": true, "s3:GETObject": true,
		"PutKeyPolicy": false, "UpdateTrail": false, "EnableKey": false, "Publish": false, "AssumeRole": false,
	} {
		if got := isRead(op); got != want {
			t.Errorf("isRead(%s) = %v, want %v", op, got, want)
		}
	}
}

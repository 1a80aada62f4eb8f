package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/trailguard/trailguard/pkg/config"
)

// A fake AWS endpoint for error-path tests: real SDK clients talk to it
// over HTTP. CloudTrail and KMS are JSON 1.1 protocols (X-Amz-Target), S3
// GetBucketLocation is REST-XML. It holds one account's trails and keys,
// records every call, and injects faults per operation.

const (
	fakeAccount = "111122223333"
	fakeRegion  = "us-east-1"
	fakeBucket  = "fake-logs"
	baseKeyID   = "0000aaaa-0000-4000-8000-000000000001"
	trailKeyID  = "0000bbbb-0000-4000-8000-000000000002"
)

var (
	baseKeyARN  = "arn:aws:kms:us-east-1:" + fakeAccount + ":key/" + baseKeyID
	trailKeyARN = "arn:aws:kms:us-east-1:" + fakeAccount + ":key/" + trailKeyID
)

func fakeTrailARN(name string) string {
	return "arn:aws:cloudtrail:us-east-1:" + fakeAccount + ":trail/" + name
}

type fakeKey struct {
	ARN, ID, State string
	Policy         string
	Rotation       bool
}

type fakeTrail struct {
	Name, ARN, KmsKeyID string
	// NotLogging makes GetTrailStatus answer IsLogging false (until
	// StartLogging).
	NotLogging bool
}

// fault makes an operation fail: Times failures (0 = always), with an
// API error code and HTTP status, or a delay before answering.
type fault struct {
	Code   string
	Status int
	Times  int
	Delay  time.Duration
	// IgnoreWrite makes a write succeed without changing anything.
	IgnoreWrite bool
	// Header is set on the failure answer (S3's x-amz-bucket-region).
	Header map[string]string
	used   int
}

type fakeAWS struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []string
	faults map[string]*fault
	keys   map[string]*fakeKey // by ARN
	alias  map[string]string   // alias name -> key ARN
	trails map[string]*fakeTrail
	// bucketKey makes GetBucketEncryption answer BucketKeyEnabled; signed
	// counts signed HeadBucket calls (there should be none).
	bucketKey   bool
	signedHeads int
	// described lists the KeyId of every DescribeKey call.
	described []string
	// latency is added to every call; inFlight/maxInFlight measure
	// concurrency.
	latency     time.Duration
	inFlight    int
	maxInFlight int
}

func newFakeAWS(t *testing.T) *fakeAWS {
	f := &fakeAWS{t: t, faults: map[string]*fault{}, keys: map[string]*fakeKey{}, alias: map[string]string{}, trails: map[string]*fakeTrail{}}
	f.addKey(baseKeyARN, baseKeyID, rootPolicy(fakeAccount))
	f.alias[config.DefaultKeyAlias] = baseKeyARN
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAWS) addKey(arn, id, policy string) *fakeKey {
	k := &fakeKey{ARN: arn, ID: id, State: "Enabled", Policy: policy}
	f.keys[arn] = k
	return k
}

func (f *fakeAWS) addTrail(name, keyARN string) string {
	tr := &fakeTrail{Name: name, ARN: fakeTrailARN(name), KmsKeyID: keyARN}
	f.trails[name] = tr
	return tr.ARN
}

func (f *fakeAWS) fail(op string, ft fault) { f.faults[op] = &ft }

// count returns how many times op was called.
func (f *fakeAWS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op {
			n++
		}
	}
	return n
}

func (f *fakeAWS) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// reconciler returns a Reconciler whose SDK clients talk to the fake, with
// fast retries.
func (f *fakeAWS) reconciler(cfg config.Config, opts ...Option) *Reconciler {
	base := aws.Config{
		Region:       fakeRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(f.srv.URL),
	}
	opts = append([]Option{WithLogger(testLogger(f.t)), WithOwnAccount(fakeAccount), WithRetryer(NewRetryer(3, 5*time.Millisecond))}, opts...)
	return New(base, cfg, opts...)
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	op := "s3:" + r.Method + " " + r.URL.Path
	switch {
	case r.URL.Query().Has("location"):
		op = "s3:GetBucketLocation"
	case r.URL.Query().Has("encryption"):
		op = "s3:GetBucketEncryption"
	case r.Method == http.MethodHead:
		op = "s3:HeadBucket"
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		op = t
	}
	f.mu.Lock()
	f.calls = append(f.calls, op)
	if op == "s3:HeadBucket" && r.Header.Get("Authorization") != "" {
		f.signedHeads++
	}
	f.inFlight++
	if f.inFlight > f.maxInFlight {
		f.maxInFlight = f.inFlight
	}
	ft := f.faults[op]
	var delay time.Duration
	failNow := false
	if ft != nil {
		delay = ft.Delay
		if ft.Code != "" && (ft.Times == 0 || ft.used < ft.Times) {
			failNow = true
			ft.used++
		}
	}
	latency := f.latency
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	select {
	case <-time.After(latency + delay):
	case <-r.Context().Done():
		return
	}
	if failNow {
		for k, v := range ft.Header {
			w.Header().Set(k, v)
		}
		if strings.HasPrefix(op, "s3:") {
			w.WriteHeader(ft.Status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, ft.Code)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", ft.Code)
		w.WriteHeader(ft.Status)
		fmt.Fprintf(w, `{"__type":%q,"message":"injected %s"}`, ft.Code, ft.Code)
		return
	}
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	f.mu.Lock()
	out, code := f.answer(op, in, ft != nil && ft.IgnoreWrite)
	f.mu.Unlock()
	if strings.HasPrefix(op, "s3:") {
		if op == "s3:HeadBucket" {
			w.Header().Set("X-Amz-Bucket-Region", fakeRegion)
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, out)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if code != "" {
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, out)
		return
	}
	fmt.Fprint(w, out)
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func str(in map[string]any, k string) string {
	s, _ := in[k].(string)
	return s
}

// key finds a key by ARN, id or alias.
func (f *fakeAWS) key(ref string) *fakeKey {
	if a, ok := f.alias[ref]; ok {
		ref = a
	}
	if k, ok := f.keys[ref]; ok {
		return k
	}
	for _, k := range f.keys {
		if k.ID == ref {
			return k
		}
	}
	return nil
}

func (f *fakeAWS) trail(ref string) *fakeTrail {
	for _, t := range f.trails {
		if t.Name == ref || t.ARN == ref {
			return t
		}
	}
	return nil
}

func (f *fakeAWS) trailJSON(t *fakeTrail) map[string]any {
	m := map[string]any{"Name": t.Name, "TrailARN": t.ARN, "HomeRegion": fakeRegion, "S3BucketName": fakeBucket, "IsMultiRegionTrail": false}
	if t.KmsKeyID != "" {
		m["KmsKeyId"] = t.KmsKeyID
	}
	return m
}

// answer returns the response body of op, or an error code and message.
func (f *fakeAWS) answer(op string, in map[string]any, ignoreWrite bool) (string, string) {
	switch op {
	case "s3:GetBucketLocation":
		return `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`, ""
	case "CloudTrail_20131101.GetTrail":
		t := f.trail(str(in, "Name"))
		if t == nil {
			return "Unknown trail", "TrailNotFoundException"
		}
		return jsonOf(map[string]any{"Trail": f.trailJSON(t)}), ""
	case "CloudTrail_20131101.DescribeTrails":
		var list []any
		for _, t := range f.trails {
			list = append(list, f.trailJSON(t))
		}
		return jsonOf(map[string]any{"trailList": list}), ""
	case "CloudTrail_20131101.ListTags":
		return jsonOf(map[string]any{"ResourceTagList": []any{map[string]any{"ResourceId": "x", "TagsList": []any{}}}}), ""
	case "s3:HeadBucket":
		return "", ""
	case "s3:GetBucketEncryption":
		algo, bk := "AES256", false
		if f.bucketKey {
			algo, bk = "aws:kms", true
		}
		return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>%s</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>%v</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`, algo, bk), ""
	case "CloudTrail_20131101.GetTrailStatus":
		t := f.trail(str(in, "Name"))
		if t == nil {
			return "Unknown trail", "TrailNotFoundException"
		}
		return jsonOf(map[string]any{"IsLogging": !t.NotLogging}), ""
	case "CloudTrail_20131101.StartLogging":
		t := f.trail(str(in, "Name"))
		if t == nil {
			return "Unknown trail", "TrailNotFoundException"
		}
		if !ignoreWrite {
			t.NotLogging = false
		}
		return `{}`, ""
	case "CloudTrail_20131101.UpdateTrail":
		t := f.trail(str(in, "Name"))
		if t == nil {
			return "Unknown trail", "TrailNotFoundException"
		}
		if !ignoreWrite {
			t.KmsKeyID = str(in, "KmsKeyId")
		}
		return jsonOf(map[string]any{"TrailARN": t.ARN, "KmsKeyId": t.KmsKeyID}), ""
	case "TrentService.DescribeKey":
		f.described = append(f.described, str(in, "KeyId"))
		k := f.key(str(in, "KeyId"))
		if k == nil {
			return "Invalid keyId " + str(in, "KeyId"), "NotFoundException"
		}
		return jsonOf(map[string]any{"KeyMetadata": map[string]any{
			"Arn": k.ARN, "KeyId": k.ID, "AWSAccountId": fakeAccount, "KeyState": k.State, "Enabled": k.State == "Enabled",
			"KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "MultiRegion": false,
		}}), ""
	case "TrentService.GetKeyPolicy":
		k := f.key(str(in, "KeyId"))
		if k == nil {
			return "no key", "NotFoundException"
		}
		return jsonOf(map[string]any{"Policy": k.Policy, "PolicyName": "default"}), ""
	case "TrentService.GetKeyRotationStatus":
		k := f.key(str(in, "KeyId"))
		if k == nil {
			return "no key", "NotFoundException"
		}
		return jsonOf(map[string]any{"KeyRotationEnabled": k.Rotation}), ""
	case "TrentService.PutKeyPolicy":
		k := f.key(str(in, "KeyId"))
		if k == nil {
			return "no key", "NotFoundException"
		}
		if v, ok := in["BypassPolicyLockoutSafetyCheck"]; ok && v != false {
			f.t.Errorf("PutKeyPolicy with BypassPolicyLockoutSafetyCheck=%v", v)
		}
		if !ignoreWrite {
			k.Policy = str(in, "Policy")
		}
		return `{}`, ""
	case "TrentService.EnableKey":
		if k := f.key(str(in, "KeyId")); k != nil && !ignoreWrite {
			k.State = "Enabled"
		}
		return `{}`, ""
	case "TrentService.CancelKeyDeletion":
		k := f.key(str(in, "KeyId"))
		if k != nil && !ignoreWrite {
			k.State = "Disabled"
		}
		return jsonOf(map[string]any{"KeyId": str(in, "KeyId")}), ""
	case "TrentService.EnableKeyRotation":
		if k := f.key(str(in, "KeyId")); k != nil && !ignoreWrite {
			k.Rotation = true
		}
		return `{}`, ""
	}
	f.t.Errorf("fake AWS: unexpected operation %s", op)
	return "unsupported " + op, "UnsupportedOperation"
}

// ctx returns a test context with a deadline, like Lambda's.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

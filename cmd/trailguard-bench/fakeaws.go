package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeAWS is a fast in-process fake of the AWS APIs an organization-scale
// sweep calls, behind the real SDK clients (BaseEndpoint): Organizations
// ListAccounts, STS AssumeRole and GetCallerIdentity, EC2 DescribeRegions,
// CloudTrail DescribeTrails / GetTrailStatus / ListTags, KMS DescribeKey /
// GetKeyPolicy / GetKeyRotationStatus, S3 HeadBucket / GetBucketEncryption
// / GetBucketLocation, SQS SendMessageBatch / ReceiveMessage /
// DeleteMessageBatch, and the DynamoDB calls of the sweep record
// (state.Sweeps). moto answers the same calls with one Python process
// whose CPU time would dominate at 5,000 accounts x 17 Regions; this fake
// answers from a world computed on the fly (every account: a multi-Region
// trail homed in us-east-1 and one trail in a Region of its own, each with
// a compliant key), after sleeping the injected latency.
type fakeAWS struct {
	srv      *http.Server
	ln       net.Listener
	URL      string
	latency  time.Duration
	accounts []string // the management account first
	regions  []string

	policyMu sync.Mutex
	policies map[string]string // key ARN -> policy

	countMu sync.Mutex
	counts  map[string]int

	q  fakeQueue
	db fakeTable
}

// fakeMgmt is the management (own) account of the simulated organization.
const fakeMgmt = "100000000000"

func fakeAccount(i int) string { return fmt.Sprintf("%012d", 100000000000+i) }

func startFakeAWS(accounts int, regions []string, latency time.Duration) (*fakeAWS, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake AWS: %w", err)
	}
	f := &fakeAWS{ln: ln, URL: "http://" + ln.Addr().String(), latency: latency, regions: regions,
		policies: map[string]string{}, counts: map[string]int{}}
	for i := range accounts {
		f.accounts = append(f.accounts, fakeAccount(i))
	}
	f.q.inflight = map[string]*fakeMsg{}
	f.db.items = map[string]map[string]map[string]json.RawMessage{}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *fakeAWS) Close() error { return f.srv.Close() }

// Counts returns the calls answered, by operation.
func (f *fakeAWS) Counts() map[string]int {
	f.countMu.Lock()
	defer f.countMu.Unlock()
	out := map[string]int{}
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

func (f *fakeAWS) count(op string) {
	f.countMu.Lock()
	f.counts[op]++
	f.countMu.Unlock()
}

var credentialRE = regexp.MustCompile(`Credential=BENCH([0-9]{12})/`)

// caller is the account of a signed request: the access key id is
// "BENCH" + account (AssumeRole hands those out).
func caller(r *http.Request) string {
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1]
	}
	return ""
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	time.Sleep(f.latency)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		dot := strings.LastIndex(target, ".")
		svc, op := target[:max(dot, 0)], target[dot+1:]
		f.count(op)
		var in map[string]json.RawMessage
		if err := json.Unmarshal(body, &in); err != nil {
			jsonError(w, "SerializationException", err.Error(), nil)
			return
		}
		var out any
		var err *fakeErr
		switch svc {
		case "AWSOrganizationsV20161128":
			out, err = f.organizations(op, in)
		case "CloudTrail_20131101", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101":
			out, err = f.cloudtrail(caller(r), regionOf2(r), op, in)
		case "TrentService":
			out, err = f.kms(op, in)
		case "AmazonSQS":
			out, err = f.sqs(op, in)
		case "DynamoDB_20120810":
			out, err = f.db.do(op, in)
		default:
			err = &fakeErr{code: "UnknownOperationException", msg: target}
		}
		if err != nil {
			jsonError(w, err.code, err.msg, err.extra)
			return
		}
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write(b)
		return
	}
	if r.Method == http.MethodPost && strings.Contains(r.Header.Get("Content-Type"), "x-www-form-urlencoded") {
		form, _ := url.ParseQuery(string(body))
		op := form.Get("Action")
		f.count(op)
		switch op {
		case "GetCallerIdentity":
			acct := caller(r)
			xmlOut(w, fmt.Sprintf(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::%s:user/bench</Arn><UserId>BENCH</UserId><Account>%s</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`, acct, acct))
		case "AssumeRole":
			parts := strings.Split(form.Get("RoleArn"), ":")
			if len(parts) < 6 {
				xmlError(w, "ValidationError", "bad RoleArn")
				return
			}
			exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			xmlOut(w, fmt.Sprintf(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>BENCH%s</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>%s</Arn><AssumedRoleId>AROA:trailguard</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`, parts[4], exp, form.Get("RoleArn")))
		case "DescribeRegions":
			var b strings.Builder
			b.WriteString(`<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>1</requestId><regionInfo>`)
			for _, reg := range f.regions {
				fmt.Fprintf(&b, `<item><regionName>%s</regionName><regionEndpoint>ec2.%s.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>`, reg, reg)
			}
			b.WriteString(`</regionInfo></DescribeRegionsResponse>`)
			xmlOut(w, b.String())
		default:
			xmlError(w, "InvalidAction", op)
		}
		return
	}
	f.s3(w, r)
}

// regionOf2 is the Region of a signed request's credential scope.
func regionOf2(r *http.Request) string {
	a := r.Header.Get("Authorization")
	i := strings.Index(a, "Credential=")
	if i < 0 {
		return ""
	}
	parts := strings.Split(a[i:], "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

type fakeErr struct {
	code, msg string
	// extra members of the error body (CancellationReasons)
	extra map[string]any
}

func jsonError(w http.ResponseWriter, code, msg string, extra map[string]any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	body := map[string]any{"__type": code, "message": msg}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	_, _ = w.Write(b)
}

func xmlOut(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, s)
}

func xmlError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(msg))
	_, _ = fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>1</RequestId></ErrorResponse>`, code, esc.String())
}

func str(in map[string]json.RawMessage, k string) string {
	var s string
	_ = json.Unmarshal(in[k], &s)
	return s
}

// The simulated trails: every account has "main" (multi-Region, home
// us-east-1) and "app" (its home Region picked by the account's number).
func (f *fakeAWS) appRegion(account string) string {
	n, _ := strconv.Atoi(account[len(account)-6:])
	return f.regions[n%len(f.regions)]
}

type fakeTrail struct {
	name, account, region string
	multi                 bool
}

func (t fakeTrail) arn() string {
	return fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", t.region, t.account, t.name)
}
func (t fakeTrail) bucket() string { return "tg-" + t.account + "-" + t.region }
func (t fakeTrail) keyARN() string {
	kind := "00000001"
	if !t.multi {
		kind = "00000002"
	}
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s-0000-4000-8000-%s", t.region, t.account, kind, t.account)
}

func (f *fakeAWS) trailsOf(account string) []fakeTrail {
	return []fakeTrail{{"main", account, "us-east-1", true}, {"app", account, f.appRegion(account), false}}
}

func (f *fakeAWS) known(account string) bool {
	_, ok := slices.BinarySearch(f.accounts, account)
	return ok
}

func (f *fakeAWS) organizations(op string, in map[string]json.RawMessage) (any, *fakeErr) {
	if op != "ListAccounts" {
		return nil, &fakeErr{code: "UnsupportedAPIEndpointException", msg: op}
	}
	const page = 20 // ListAccounts' largest MaxResults
	start, _ := strconv.Atoi(str(in, "NextToken"))
	end := min(start+page, len(f.accounts))
	var accts []map[string]any
	for _, a := range f.accounts[start:end] {
		accts = append(accts, map[string]any{"Id": a, "Arn": "arn:aws:organizations::" + fakeMgmt + ":account/o-bench/" + a,
			"Name": "acct-" + a, "Email": a + "@example.com", "Status": "ACTIVE", "State": "ACTIVE"})
	}
	out := map[string]any{"Accounts": accts}
	if end < len(f.accounts) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func (f *fakeAWS) cloudtrail(account, region, op string, in map[string]json.RawMessage) (any, *fakeErr) {
	if !f.known(account) {
		return nil, &fakeErr{code: "UnrecognizedClientException", msg: "unknown account " + account}
	}
	find := func(arn string) (fakeTrail, bool) {
		for _, t := range f.trailsOf(account) {
			if t.arn() == arn || t.name == arn {
				return t, true
			}
		}
		return fakeTrail{}, false
	}
	switch op {
	case "DescribeTrails":
		var list []map[string]any
		for _, t := range f.trailsOf(account) {
			if t.region != region && !t.multi {
				continue
			}
			list = append(list, map[string]any{"Name": t.name, "TrailARN": t.arn(), "HomeRegion": t.region, "IsMultiRegionTrail": t.multi,
				"S3BucketName": t.bucket(), "KmsKeyId": t.keyARN(), "IncludeGlobalServiceEvents": t.multi, "LogFileValidationEnabled": true,
				"IsOrganizationTrail": false, "HasCustomEventSelectors": false, "HasInsightSelectors": false})
		}
		return map[string]any{"trailList": list}, nil
	case "GetTrailStatus":
		if _, ok := find(str(in, "Name")); !ok {
			return nil, &fakeErr{code: "TrailNotFoundException", msg: str(in, "Name")}
		}
		return map[string]any{"IsLogging": true}, nil
	case "ListTags":
		var ids []string
		_ = json.Unmarshal(in["ResourceIdList"], &ids)
		var tags []map[string]any
		for _, id := range ids {
			tags = append(tags, map[string]any{"ResourceId": id, "TagsList": []any{}})
		}
		return map[string]any{"ResourceTagList": tags}, nil
	}
	return nil, &fakeErr{code: "UnsupportedOperationException", msg: op}
}

func (f *fakeAWS) keyOf(ref string) (fakeTrail, bool) {
	parts := strings.Split(ref, ":")
	if len(parts) != 6 || !strings.HasPrefix(parts[5], "key/") {
		return fakeTrail{}, false
	}
	for _, t := range f.trailsOf(parts[4]) {
		if t.keyARN() == ref {
			return t, true
		}
	}
	return fakeTrail{}, false
}

func (f *fakeAWS) kms(op string, in map[string]json.RawMessage) (any, *fakeErr) {
	t, ok := f.keyOf(str(in, "KeyId"))
	if !ok {
		return nil, &fakeErr{code: "NotFoundException", msg: "key " + str(in, "KeyId")}
	}
	switch op {
	case "DescribeKey":
		arn := t.keyARN()
		return map[string]any{"KeyMetadata": map[string]any{"KeyId": arn[strings.LastIndex(arn, "/")+1:], "Arn": arn, "AWSAccountId": t.account,
			"KeyState": "Enabled", "Enabled": true, "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT",
			"Origin": "AWS_KMS", "MultiRegion": false, "CreationDate": 1.7e9}}, nil
	case "GetKeyPolicy":
		p, err := f.policy(t)
		if err != nil {
			return nil, &fakeErr{code: "KMSInternalException", msg: err.Error()}
		}
		return map[string]any{"Policy": p, "PolicyName": "default"}, nil
	case "GetKeyRotationStatus":
		return map[string]any{"KeyRotationEnabled": true}, nil
	}
	return nil, &fakeErr{code: "UnsupportedOperationException", msg: op}
}

// policy is the compliant policy of t's key (computed once).
func (f *fakeAWS) policy(t fakeTrail) (string, error) {
	f.policyMu.Lock()
	defer f.policyMu.Unlock()
	if p, ok := f.policies[t.keyARN()]; ok {
		return p, nil
	}
	p, err := compliantPolicy(t.account, []plannedTrail{{Account: t.account, Region: t.region, Name: t.name, Bucket: t.bucket()}})
	if err != nil {
		return "", err
	}
	f.policies[t.keyARN()] = p
	return p, nil
}

// s3 answers path-style bucket requests: HEAD (the bucket's Region),
// ?encryption and ?location.
func (f *fakeAWS) s3(w http.ResponseWriter, r *http.Request) {
	bucket := strings.Trim(r.URL.Path, "/")
	parts := strings.SplitN(bucket, "-", 3)
	if len(parts) != 3 || parts[0] != "tg" {
		f.count("S3Unknown")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	region := parts[2]
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodHead:
		f.count("HeadBucket")
		w.Header().Set("x-amz-bucket-region", region)
		w.WriteHeader(http.StatusOK)
	case q.Has("encryption"):
		f.count("GetBucketEncryption")
		xmlOut(w, `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`)
	case q.Has("location"):
		f.count("GetBucketLocation")
		loc := region
		if loc == "us-east-1" {
			loc = ""
		}
		xmlOut(w, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+loc+`</LocationConstraint>`)
	default:
		f.count("S3Unknown")
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// fakeQueue is one SQS standard queue: FIFO delivery order, a visibility
// timeout per receive.
type fakeQueue struct {
	mu       sync.Mutex
	ready    []*fakeMsg
	inflight map[string]*fakeMsg
	next     int
	sent     int
}

type fakeMsg struct {
	id, body, receipt string
	receives          int
	visibleAt         time.Time
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func (f *fakeAWS) sqs(op string, in map[string]json.RawMessage) (any, *fakeErr) {
	q := &f.q
	q.mu.Lock()
	defer q.mu.Unlock()
	switch op {
	case "SendMessageBatch":
		var entries []struct{ Id, MessageBody string }
		_ = json.Unmarshal(in["Entries"], &entries)
		if len(entries) == 0 || len(entries) > 10 {
			return nil, &fakeErr{code: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", msg: strconv.Itoa(len(entries))}
		}
		var ok []map[string]any
		for _, e := range entries {
			q.next++
			m := &fakeMsg{id: "m" + strconv.Itoa(q.next), body: e.MessageBody}
			q.ready = append(q.ready, m)
			q.sent++
			ok = append(ok, map[string]any{"Id": e.Id, "MessageId": m.id, "MD5OfMessageBody": md5hex(e.MessageBody)})
		}
		return map[string]any{"Successful": ok, "Failed": []any{}}, nil
	case "ReceiveMessage":
		var n int
		_ = json.Unmarshal(in["MaxNumberOfMessages"], &n)
		n = max(1, min(n, 10))
		now := time.Now()
		for r, m := range q.inflight {
			if now.After(m.visibleAt) {
				delete(q.inflight, r)
				q.ready = append(q.ready, m)
			}
		}
		var msgs []map[string]any
		for len(msgs) < n && len(q.ready) > 0 {
			m := q.ready[0]
			q.ready = q.ready[1:]
			m.receives++
			q.next++
			m.receipt = "r" + strconv.Itoa(q.next)
			m.visibleAt = now.Add(5 * time.Minute)
			q.inflight[m.receipt] = m
			msgs = append(msgs, map[string]any{"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body, "MD5OfBody": md5hex(m.body),
				"Attributes": map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives)}})
		}
		return map[string]any{"Messages": msgs}, nil
	case "DeleteMessageBatch":
		var entries []struct{ Id, ReceiptHandle string }
		_ = json.Unmarshal(in["Entries"], &entries)
		var ok []map[string]any
		for _, e := range entries {
			delete(q.inflight, e.ReceiptHandle)
			ok = append(ok, map[string]any{"Id": e.Id})
		}
		return map[string]any{"Successful": ok, "Failed": []any{}}, nil
	case "ChangeMessageVisibilityBatch":
		var entries []struct {
			Id, ReceiptHandle string
			VisibilityTimeout int
		}
		_ = json.Unmarshal(in["Entries"], &entries)
		var ok []map[string]any
		for _, e := range entries {
			if m, found := q.inflight[e.ReceiptHandle]; found {
				m.visibleAt = time.Now().Add(time.Duration(e.VisibilityTimeout) * time.Second)
			}
			ok = append(ok, map[string]any{"Id": e.Id})
		}
		return map[string]any{"Successful": ok, "Failed": []any{}}, nil
	}
	return nil, &fakeErr{code: "UnsupportedOperation", msg: op}
}

// pending is how many messages are waiting or in flight.
func (q *fakeQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready) + len(q.inflight)
}

// fakeTable is the state table for the sweep record and the trail index:
// the item shapes and expressions of state.Sweeps and of the index's
// writes (state.Store NoteTrail, DropTrails, the sweep and dirty marks),
// and nothing else.
type fakeTable struct {
	mu    sync.Mutex
	items map[string]map[string]map[string]json.RawMessage // pk -> sk -> attributes
}

type attrs = map[string]json.RawMessage

func attrS(v json.RawMessage) string {
	var a struct{ S, N string }
	_ = json.Unmarshal(v, &a)
	return a.S + a.N
}

func attrN(v json.RawMessage) int64 {
	var a struct{ N string }
	_ = json.Unmarshal(v, &a)
	n, _ := strconv.ParseInt(a.N, 10, 64)
	return n
}

func numAttr(n int64) json.RawMessage {
	return json.RawMessage(`{"N":"` + strconv.FormatInt(n, 10) + `"}`)
}

var (
	errCondition = &fakeErr{code: "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", msg: "The conditional request failed"}
)

func (t *fakeTable) get(key attrs) attrs {
	return t.items[attrS(key["pk"])][attrS(key["sk"])]
}

func (t *fakeTable) put(item attrs) {
	pk, sk := attrS(item["pk"]), attrS(item["sk"])
	if t.items[pk] == nil {
		t.items[pk] = map[string]attrs{}
	}
	t.items[pk][sk] = item
}

func decode[T any](raw json.RawMessage) T {
	var v T
	_ = json.Unmarshal(raw, &v)
	return v
}

// addUpdate applies "ADD a :x, b :y" to item.
func addUpdate(item attrs, expr string, vals attrs) *fakeErr {
	rest, ok := strings.CutPrefix(expr, "ADD ")
	if !ok {
		return &fakeErr{code: "ValidationException", msg: "unsupported update " + expr}
	}
	for _, part := range strings.Split(rest, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return &fakeErr{code: "ValidationException", msg: "bad ADD " + part}
		}
		item[f[0]] = numAttr(attrN(item[f[0]]) + attrN(vals[f[1]]))
	}
	return nil
}

func (t *fakeTable) do(op string, in map[string]json.RawMessage) (any, *fakeErr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cond := str(in, "ConditionExpression")
	switch op {
	case "PutItem":
		item := decode[attrs](in["Item"])
		if cond == "attribute_not_exists(pk)" && t.get(item) != nil {
			return nil, errCondition
		}
		t.put(item)
		return map[string]any{}, nil
	case "GetItem":
		item := t.get(decode[attrs](in["Key"]))
		if item == nil {
			return map[string]any{}, nil
		}
		// A copy: the answer is encoded after the lock is released.
		return map[string]any{"Item": maps.Clone(item)}, nil
	case "UpdateItem":
		key := decode[attrs](in["Key"])
		if strings.HasPrefix(attrS(key["pk"]), "index") {
			return t.indexUpdate(key, in)
		}
		// The claim: SET claimed = :token if every item is done.
		item := t.get(key)
		vals := decode[attrs](in["ExpressionAttributeValues"])
		if item == nil || item["claimed"] != nil || attrN(item["done"]) < attrN(item["items"]) {
			return nil, errCondition
		}
		if str(in, "UpdateExpression") != "SET claimed = :token" {
			return nil, &fakeErr{code: "ValidationException", msg: "unsupported update"}
		}
		item["claimed"] = vals[":token"]
		return map[string]any{}, nil
	case "TransactWriteItems":
		type put struct {
			Item                attrs
			ConditionExpression string
		}
		type update struct {
			Key                       attrs
			ConditionExpression       string
			UpdateExpression          string
			ExpressionAttributeValues attrs
		}
		items := decode[[]struct {
			Put    *put
			Update *update
		}](in["TransactItems"])
		reasons := make([]map[string]string, len(items))
		failed := false
		for i, it := range items {
			reasons[i] = map[string]string{"Code": "None"}
			switch {
			case it.Put != nil && it.Put.ConditionExpression == "attribute_not_exists(pk)" && t.get(it.Put.Item) != nil,
				it.Update != nil && (t.get(it.Update.Key) == nil || attrN(t.get(it.Update.Key)["done"]) >= attrN(t.get(it.Update.Key)["items"])):
				reasons[i]["Code"], failed = "ConditionalCheckFailed", true
			}
		}
		if failed {
			return nil, &fakeErr{code: "com.amazonaws.dynamodb.v20120810#TransactionCanceledException", msg: "Transaction cancelled", extra: map[string]any{"CancellationReasons": reasons}}
		}
		for _, it := range items {
			if it.Put != nil {
				t.put(it.Put.Item)
			}
			if it.Update != nil {
				if err := addUpdate(t.get(it.Update.Key), it.Update.UpdateExpression, it.Update.ExpressionAttributeValues); err != nil {
					return nil, err
				}
			}
		}
		return map[string]any{}, nil
	case "Query":
		vals := decode[attrs](in["ExpressionAttributeValues"])
		var out []attrs
		for _, item := range t.items[attrS(vals[":pk"])] {
			if item["note"] != nil {
				out = append(out, maps.Clone(item))
			}
		}
		return map[string]any{"Items": out, "Count": len(out), "ScannedCount": len(out)}, nil
	}
	return nil, &fakeErr{code: "UnknownOperationException", msg: op}
}

// indexUpdate applies a trail index UpdateItem: "SET a = :x, #b = :y" or
// "REMOVE #a, #b" on the item of key, created if absent (as UpdateItem
// does); of the conditions only the sweep mark's is evaluated (it never
// moves back and never covers a failed index write).
func (t *fakeTable) indexUpdate(key attrs, in map[string]json.RawMessage) (any, *fakeErr) {
	names := decode[map[string]string](in["ExpressionAttributeNames"])
	vals := decode[attrs](in["ExpressionAttributeValues"])
	name := func(n string) string {
		if r, ok := names[n]; ok {
			return r
		}
		return n
	}
	item := t.get(key)
	if item == nil {
		item = attrs{"pk": key["pk"], "sk": key["sk"]}
	}
	expr := str(in, "UpdateExpression")
	if cond := str(in, "ConditionExpression"); strings.Contains(cond, "swept_ms < :s") {
		s := attrN(vals[":s"])
		if (item["swept_ms"] != nil && attrN(item["swept_ms"]) >= s) || (item["dirty_ms"] != nil && attrN(item["dirty_ms"]) >= s) {
			return nil, errCondition
		}
	}
	switch {
	case strings.HasPrefix(expr, "SET "):
		for _, part := range strings.Split(strings.TrimPrefix(expr, "SET "), ",") {
			lhs, rhs, ok := strings.Cut(part, "=")
			if !ok {
				return nil, &fakeErr{code: "ValidationException", msg: "bad SET " + part}
			}
			item[name(strings.TrimSpace(lhs))] = vals[strings.TrimSpace(rhs)]
		}
	case strings.HasPrefix(expr, "REMOVE "):
		for _, n := range strings.Split(strings.TrimPrefix(expr, "REMOVE "), ",") {
			delete(item, name(strings.TrimSpace(n)))
		}
	default:
		return nil, &fakeErr{code: "ValidationException", msg: "unsupported update " + expr}
	}
	t.put(item)
	return map[string]any{}, nil
}

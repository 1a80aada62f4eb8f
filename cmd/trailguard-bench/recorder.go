package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
)

// HTTPDoer is the HTTP client the AWS SDK calls (aws.HTTPClient).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// call is one AWS API call as the SDK sent it.
type call struct {
	Op       string
	Resource string // the key, trail or bucket it is about ("" if none)
	Request  string // the operation and its body: equal requests ask the same question
	Start    time.Time
	End      time.Time
	Status   int
}

// recorder is an HTTP client that records every AWS call the SDK makes
// through it (operation, resource, request, timing), so that one run's
// calls can be analysed: sequential rounds and calls whose answer was
// already known.
type recorder struct {
	next HTTPDoer

	mu    sync.Mutex
	calls []call
}

func newRecorder(next HTTPDoer) *recorder { return &recorder{next: next} }

// Do records the call and passes it on.
func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	op := awsproxy.Operation(req) // restores req.Body
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	c := call{Op: op, Resource: resourceOf(op, req.URL, body), Start: time.Now()}
	scope := credentialScope(req.Header.Get("Authorization"))
	resp, err := r.next.Do(req)
	c.End = time.Now()
	if resp != nil {
		c.Status = resp.StatusCode
		if op == "DescribeKey" && resp.StatusCode == http.StatusOK {
			// The answer names the key an alias stands for: describing
			// it by alias or by ARN asks the same question.
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			if rerr != nil {
				return resp, rerr
			}
			var out struct {
				KeyMetadata struct {
					KeyID string `json:"KeyId"`
				} `json:"KeyMetadata"`
			}
			if json.Unmarshal(b, &out) == nil && out.KeyMetadata.KeyID != "" {
				c.Resource = "key:" + out.KeyMetadata.KeyID
			}
		}
	}
	if strings.HasPrefix(c.Resource, "key:") && isRead(op) {
		// A key read asks about the key, however the key is named.
		c.Request = op + " " + scope + " " + c.Resource
	} else {
		c.Request = op + " " + scope + " " + canonicalRequest(req.URL, body)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return resp, err
}

// take returns the calls recorded since the last take, by start time.
func (r *recorder) take() []call {
	r.mu.Lock()
	out := r.calls
	r.calls = nil
	r.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// credentialScope returns the access key and Region of a SigV4
// Authorization header ("AKID/us-west-2"): with a custom endpoint they are
// what tells apart the same request to two accounts or Regions.
func credentialScope(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) < 3 {
		return cred
	}
	return parts[0] + "/" + parts[2]
}

// canonicalRequest is what a request asks, without signatures, dates or
// the form's Version field: the URL path and sorted query, and the body
// (JSON bodies re-encoded with sorted keys).
func canonicalRequest(u *url.URL, body []byte) string {
	var b strings.Builder
	b.WriteString(u.Path)
	if q := u.Query(); len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	if len(body) > 0 {
		var v any
		if json.Unmarshal(body, &v) == nil {
			if out, err := json.Marshal(v); err == nil {
				body = out
			}
		}
		b.WriteString(" ")
		b.Write(body)
	}
	return b.String()
}

// resourceOf names what a call is about, normalised so that a key given
// by id and by ARN is the same resource: "key:<id>", "trail:<name>",
// "bucket:<name>", "item:<pk>|<sk>" (a state table item), or "" for
// account-wide calls.
func resourceOf(op string, u *url.URL, body []byte) string {
	if strings.HasPrefix(op, "s3:") {
		if p := strings.Trim(u.Path, "/"); p != "" {
			name, _, _ := strings.Cut(p, "/")
			return "bucket:" + name
		}
		return ""
	}
	type attr struct {
		S string `json:"S"`
	}
	var fields struct {
		KeyID          string   `json:"KeyId"`
		Name           string   `json:"Name"`
		ResourceIDList []string `json:"ResourceIdList"`
		// DynamoDB: the item a GetItem, PutItem, UpdateItem or
		// DeleteItem is about.
		Key, Item map[string]attr
	}
	if json.Unmarshal(body, &fields) != nil {
		return ""
	}
	item := fields.Key
	if item == nil {
		item = fields.Item
	}
	switch {
	case item["pk"].S != "":
		return "item:" + item["pk"].S + "|" + item["sk"].S
	case fields.KeyID != "":
		return "key:" + lastSegment(fields.KeyID, "key/")
	case fields.Name != "":
		return "trail:" + lastSegment(fields.Name, "trail/")
	case len(fields.ResourceIDList) == 1:
		return "trail:" + lastSegment(fields.ResourceIDList[0], "trail/")
	}
	return ""
}

// lastSegment returns what follows the last sep in s (s when none).
func lastSegment(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}

// writes are the operations trailguard changes a resource with.
var writes = map[string]bool{
	"PutKeyPolicy": true, "EnableKey": true, "CancelKeyDeletion": true, "EnableKeyRotation": true,
	"UpdateTrail": true, "Publish": true, "StartLogging": true,
	// The state table's items (leases, the loop guard, change records, the
	// trail index): a GetItem after one of these asks a new question.
	"PutItem": true, "UpdateItem": true, "DeleteItem": true,
}

// isRead reports whether op only reads.
func isRead(op string) bool {
	if writes[op] {
		return false
	}
	for _, p := range []string{"Get", "Describe", "List", "s3:Get", "s3:GET"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// analysis is what one run's calls show.
type analysis struct {
	// Calls is the number of calls; ByOp counts them per operation.
	Calls int            `json:"calls"`
	ByOp  map[string]int `json:"by_operation"`
	// Rounds is the length of the longest chain of calls each of which
	// started after the previous one had answered: the sequential round
	// trips, whatever the latency.
	Rounds int `json:"rounds"`
	// Repeated are reads asked again, the same question about a resource
	// nothing in the run had written to since the first answer: the
	// answer was already known.
	Repeated []string `json:"repeated,omitempty"`
	// ReadAfterOwnWrite are reads of a resource the run itself had just
	// written (the answer follows from the write).
	ReadAfterOwnWrite []string `json:"read_after_own_write,omitempty"`
	// ReReadBeforeWrite are reads that would be Repeated or
	// ReadAfterOwnWrite but whose next call on the same resource is a
	// write to it: the deliberate re-read under the lease right before a
	// write (DescribeKey then CancelKeyDeletion, GetKeyPolicy then
	// PutKeyPolicy). They are not known answers.
	ReReadBeforeWrite []string `json:"reread_before_write,omitempty"`
	// Chain is the operations of one longest chain, in order.
	Chain []string `json:"chain"`
	// MeanMS is the mean duration of each operation's calls (injected
	// latency and the emulator's own time).
	MeanMS map[string]float64 `json:"mean_ms"`
}

// analyse computes rounds and known answers of calls (sorted by start).
func analyse(calls []call) analysis {
	a := analysis{Calls: len(calls), ByOp: map[string]int{}, MeanMS: map[string]float64{}}
	for _, c := range calls {
		a.ByOp[c.Op]++
		a.MeanMS[c.Op] += ms(c.End.Sub(c.Start))
	}
	for op, total := range a.MeanMS {
		a.MeanMS[op] = total / float64(a.ByOp[op])
	}
	a.Rounds, a.Chain = longestChain(calls)

	// version counts the writes to each resource so far (by start time:
	// a read that starts after a write started may see it).
	version := map[string]int{}
	type seenKey struct {
		req string
		ver int
	}
	seen := map[seenKey]bool{}
	written := map[string]bool{}
	for i, c := range calls {
		if c.Status >= 300 { // failed calls (and retried throttles) asked nothing answered
			continue
		}
		if writes[c.Op] {
			if c.Resource != "" {
				version[c.Resource]++
				written[c.Resource] = true
			}
			continue
		}
		if !isRead(c.Op) {
			continue
		}
		k := seenKey{c.Request, version[c.Resource]}
		var known *[]string
		switch {
		case seen[k]:
			known = &a.Repeated
		case c.Resource != "" && written[c.Resource] && !strings.HasPrefix(c.Resource, "item:"):
			// (A state table item the run wrote is shared with every
			// other writer, the loop guard's counts for one: reading it
			// again asks what they did since.)
			// A read of what the run itself wrote: the answer follows
			// from the write (the policy it put, the state after
			// CancelKeyDeletion or EnableKey).
			known = &a.ReadAfterOwnWrite
		}
		if known != nil {
			if nextIsWrite(c, calls[i+1:]) {
				known = &a.ReReadBeforeWrite
			}
			*known = append(*known, c.Op+" "+c.Resource)
		}
		seen[k] = true
	}
	return a
}

// nextIsWrite reports whether the first answered call on resource among
// later (sorted by start) is a write to it, or, for a key, whether the
// run's next write is the UpdateTrail that points a trail at that key
// (the key read again, after the run wrote its policy, to check the
// write is still there before the trail moves onto it). Calls on other
// resources, the state table's items among them (the lease taken between
// the re-read and the write), do not count; a resource of "" (account-wide
// calls, SNS) never has a next write, and neither does a read followed by
// nothing or only by reads. A read of the resource started while this
// one was in flight is part of the same re-read (DescribeKey and
// GetKeyPolicy side by side), not a next call.
func nextIsWrite(read call, later []call) bool {
	resource := read.Resource
	if resource == "" || strings.HasPrefix(resource, "item:") {
		return false
	}
	keyID, isKey := strings.CutPrefix(resource, "key:")
	for _, c := range later {
		if c.Status >= 300 || strings.HasPrefix(c.Resource, "item:") {
			continue
		}
		if isKey && writes[c.Op] && c.Resource != resource {
			// The run's next write, elsewhere: deliberate only when it
			// moves a trail onto this key.
			return c.Op == "UpdateTrail" && strings.Contains(c.Request, keyID)
		}
		if c.Resource != resource || !writes[c.Op] && c.Start.Before(read.End) {
			continue
		}
		return writes[c.Op]
	}
	return false
}

// longestChain returns the length of the longest sequence of calls in
// which each starts after the previous one ended, and its operations.
// Taking, at each step, the call that ends first among those starting
// after the last chosen end gives a longest chain (interval scheduling).
func longestChain(calls []call) (int, []string) {
	byEnd := make([]call, len(calls))
	copy(byEnd, calls)
	sort.SliceStable(byEnd, func(i, j int) bool { return byEnd[i].End.Before(byEnd[j].End) })
	var (
		n     int
		chain []string
		last  time.Time
	)
	for _, c := range byEnd {
		if n == 0 || !c.Start.Before(last) {
			n++
			chain = append(chain, c.Op)
			last = c.End
		}
	}
	return n, chain
}

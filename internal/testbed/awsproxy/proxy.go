package awsproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault is a kind of injected failure.
type Fault string

// The faults the proxy can inject.
const (
	Throttle Fault = "throttle" // HTTP 400 ThrottlingException (JSON) / Throttling (query)
	Internal Fault = "internal" // HTTP 500 InternalFailure
	Timeout  Fault = "timeout"  // hold the request until the client gives up (bounded)
	Drop     Fault = "drop"     // close the connection without an answer
	// Lost forwards the call, so it takes effect, then closes the
	// connection without the answer: the client cannot tell it from Drop.
	Lost Fault = "lost"
)

// Call is one request as the proxy handled it, given to the Before and
// After hooks.
type Call struct {
	// Operation is the request's AWS operation (see Operation).
	Operation string
	// Region and Service are the Region and service name ("kms") the
	// request was signed for ("" when unsigned).
	Region, Service string
	// Method and Path are the request's HTTP method and URL path (REST
	// protocols such as Security Hub's name operations by them).
	Method, Path string
	// Header is the request's header (a copy).
	Header http.Header
	// Body is the request body.
	Body []byte
	// Fault is the fault injected into the call ("" for none). A call
	// refused because the proxy is down (see CrashAfter) has Fault Drop.
	Fault Fault
	// Forwarded is true when the call reached the target (no fault, or
	// Lost); Status is then the target's HTTP status (After only).
	Forwarded bool
	Status    int
}

// Rule injects Faults on calls whose operation is Operation (or every
// operation when it is "") with probability Rate (0..1).
type Rule struct {
	Operation string
	Rate      float64
	Faults    []Fault
}

// Options configure a Proxy.
type Options struct {
	// Latency is added to every call before it is forwarded.
	Latency time.Duration
	// Rules for fault injection; the first rule whose Operation matches
	// (or is empty) applies.
	Rules []Rule
	// Seed makes fault injection repeatable.
	Seed uint64
	// TimeoutHold bounds how long a Timeout fault holds a request
	// (default 5s).
	TimeoutHold time.Duration
	// Before, when set, is called for every call after the fault is
	// chosen and before it is answered or forwarded; it may block, for
	// example to make a concurrent change directly at the target. After,
	// when set, is called once the call is answered (or dropped). Both
	// run on the request's goroutine and must be safe for concurrent use.
	Before func(Call)
	After  func(Call)
	// Respond, when set, may answer a call itself instead of forwarding
	// it: a non-nil Answer is written as the call's response (after any
	// injected fault, which wins). Tests use it to reproduce documented AWS
	// behaviour the target (moto) lacks; each such answer must cite the
	// AWS documentation it follows. It must be safe for concurrent use.
	Respond func(Call) *Answer
	// Reply, when set, may answer a call itself instead of forwarding
	// it (an operation the target does not implement, answered as AWS
	// documents it): handled true writes status and body (JSON) back.
	// It runs after Before and after any injected fault.
	Reply func(Call) (status int, body []byte, handled bool)
}

// Answer is a response the proxy writes in place of the target's.
type Answer struct {
	// Status is the HTTP status (default 200, or 400 with a Code).
	Status int
	// Header is added to the response (S3's x-amz-bucket-region, say).
	Header http.Header
	// Code and Message make it an error answer in the request protocol's
	// error shape; a HEAD answer gets no body, as S3 sends none.
	Code, Message string
	// Body is the body of a success answer.
	Body string
}

// Proxy is a running loopback proxy.
type Proxy struct {
	// URL is the proxy's address, to use as AWS_ENDPOINT_URL.
	URL string

	opts   Options
	srv    *http.Server
	ln     net.Listener
	mu     sync.Mutex
	rnd    *rand.Rand
	calls  map[string]int
	faults map[string]int
	// inflight and peak track concurrent calls, from which round trips
	// can be reasoned about.
	inflight, peak int
	// crashAfter is the operation after whose next success the proxy
	// goes down; down refuses every call until Restart.
	crashAfter string
	down       bool
}

// Start starts a proxy on a free 127.0.0.1 port forwarding to target.
func Start(target string, opts Options) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("awsproxy: bad target %q", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awsproxy: listen: %w", err)
	}
	if opts.TimeoutHold <= 0 {
		opts.TimeoutHold = 5 * time.Second
	}
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		opts:   opts,
		ln:     ln,
		rnd:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		calls:  map[string]int{},
		faults: map[string]int{},
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	p.srv = &http.Server{Handler: p.handler(rp), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := Operation(r)
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		fault := p.record(op)
		defer p.done()
		region, service := SigningScope(r)
		call := Call{Operation: op, Region: region, Service: service, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Fault: fault}
		if p.opts.Before != nil {
			p.opts.Before(call)
		}
		if p.opts.After != nil {
			defer func() { p.opts.After(call) }()
		}
		if p.opts.Latency > 0 {
			time.Sleep(p.opts.Latency)
		}
		switch fault {
		case Throttle:
			writeError(w, r, http.StatusBadRequest, "ThrottlingException", "Rate exceeded (injected)")
			return
		case Internal:
			writeError(w, r, http.StatusInternalServerError, "InternalFailure", "injected internal error")
			return
		case Timeout:
			select {
			case <-r.Context().Done():
			case <-time.After(p.opts.TimeoutHold):
			}
			writeError(w, r, http.StatusServiceUnavailable, "ServiceUnavailable", "injected timeout")
			return
		case Drop:
			drop(w, r)
			return
		case Lost:
			rec := &statusRecorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			call.Forwarded, call.Status = true, rec.status()
			p.forwarded(op, call.Status)
			drop(w, r)
			return
		}
		if p.opts.Respond != nil {
			if ans := p.opts.Respond(call); ans != nil {
				p.answer(w, r, ans)
				return
			}
		}
		if p.opts.Reply != nil {
			if status, out, ok := p.opts.Reply(call); ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write(out)
				call.Status = status
				return
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		call.Forwarded, call.Status = true, sw.status()
		p.forwarded(op, call.Status)
	})
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter, r *http.Request) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	writeError(w, r, http.StatusBadGateway, "BadGateway", "injected drop")
}

// statusWriter records the status of a response passed through.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush lets the reverse proxy flush through the wrapper.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// statusRecorder is a ResponseWriter that discards the body (a Lost
// answer) and keeps the status.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return len(b), nil
}
func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// forwarded notes a call the target answered with status; it takes the
// proxy down when the call is the armed CrashAfter operation and succeeded.
func (p *Proxy) forwarded(op string, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.crashAfter != "" && p.crashAfter == op && status < 300 {
		p.crashAfter, p.down = "", true
	}
}

func (p *Proxy) record(op string) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[op]++
	p.inflight++
	if p.inflight > p.peak {
		p.peak = p.inflight
	}
	if p.down {
		p.faults[op+":down"]++
		return Drop
	}
	for _, rule := range p.opts.Rules {
		if rule.Operation != "" && rule.Operation != op {
			continue
		}
		if len(rule.Faults) == 0 || p.rnd.Float64() >= rule.Rate {
			return ""
		}
		f := rule.Faults[p.rnd.IntN(len(rule.Faults))]
		p.faults[op+":"+string(f)]++
		return f
	}
	return ""
}

func (p *Proxy) done() {
	p.mu.Lock()
	p.inflight--
	p.mu.Unlock()
}

// Calls returns the number of calls per operation so far.
func (p *Proxy) Calls() map[string]int { return p.snapshot(p.calls) }

// Faults returns the number of injected faults per "operation:fault".
func (p *Proxy) Faults() map[string]int { return p.snapshot(p.faults) }

// Total returns the total number of calls so far.
func (p *Proxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}

// Peak returns the largest number of calls that were in flight at once.
func (p *Proxy) Peak() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// Reset clears the counters.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = map[string]int{}
	p.faults = map[string]int{}
	p.peak = 0
}

// SetRules replaces the fault rules (for example to stop injecting).
func (p *Proxy) SetRules(rules []Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.Rules = rules
}

// CrashAfter arms a crash: once a call of operation op has been forwarded
// and succeeded (its effect is made and answered), the proxy goes down and
// drops every later call, as if the process making them had died right
// after op returned, until Restart. Calls refused while down are counted
// in Faults as "operation:down".
func (p *Proxy) CrashAfter(op string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.crashAfter = op
}

// Down reports whether an armed CrashAfter has fired.
func (p *Proxy) Down() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

// Restart brings the proxy back up after a crash and disarms CrashAfter.
func (p *Proxy) Restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.crashAfter, p.down = "", false
}

// Operations returns the sorted operation names seen so far.
func (p *Proxy) Operations() []string {
	m := p.Calls()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p *Proxy) snapshot(m map[string]int) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// writeError answers in the error shape of the request's protocol, so the
// SDK classifies it (throttle, 5xx) exactly as it would a real one.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if r.Header.Get("X-Amz-Target") != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	if strings.HasPrefix(Operation(r), "s3:") {
		if code == "ThrottlingException" {
			code, status = "SlowDown", http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `<Error><Code>%s</Code><Message>%s</Message><RequestId>injected</RequestId></Error>`, code, msg)
		return
	}
	if code == "ThrottlingException" {
		code = "Throttling"
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>injected</RequestId></ErrorResponse>`, code, msg)
}

// answer writes ans as the response to r.
func (p *Proxy) answer(w http.ResponseWriter, r *http.Request, ans *Answer) {
	p.mu.Lock()
	p.faults[Operation(r)+":answered"]++
	p.mu.Unlock()
	for k, vs := range ans.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := ans.Status
	switch {
	case status == 0 && ans.Code != "":
		status = http.StatusBadRequest
	case status == 0:
		status = http.StatusOK
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	if ans.Code != "" {
		writeError(w, r, status, ans.Code, ans.Message)
		return
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, ans.Body)
}

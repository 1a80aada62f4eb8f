package motoserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// dynamoDBTarget prefixes the X-Amz-Target header of every DynamoDB
// request (the awsJson1_0 protocol names the operation there).
const dynamoDBTarget = "DynamoDB_20120810."

// front is the loopback listener a Server's clients reach (Endpoint). It
// forwards every request to moto unchanged, the Host header included, so
// the URLs moto builds from it (queue URLs, S3 locations) name the front
// too. DynamoDB requests are let through one at a time.
//
// Why: moto answers requests on threads, and its DynamoDB evaluates a
// condition expression and then writes the item with nothing held between
// the two (moto 5.2.1: Table.put_item in dynamodb/models/table.py,
// DynamoDBBackend.update_item in dynamodb/models/__init__.py; and
// TransactWriteItems is not isolated). Two concurrent conditional
// PutItems on one item can then both succeed: 12 Go clients racing for
// one lease with trailguard's condition saw two or more winners in 10 of
// 1,500 rounds straight to moto and in none through the front
// (TestConditionalPutsThroughTheFrontHaveOneWinner), and
// TestLeaseExcludesConcurrentWriters failed in CI that way. DynamoDB
// evaluates the condition and applies the write as one operation ("If
// the condition expression evaluates to true, the operation succeeds;
// otherwise, the operation fails",
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.SpecifyingConditions.html)
// and isolates transactions from every other write and read
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).
// Serializing DynamoDB requests gives moto both. README "Emulator gaps".
type front struct {
	url       string
	port      int
	srv       *http.Server
	transport *http.Transport // to moto
	done      chan struct{}   // closed when Serve has returned

	dynamo sync.Mutex // held while moto handles a DynamoDB request
}

// startFront listens on a free port of 127.0.0.1 and forwards to backend
// (moto's own URL).
func startFront(backend string) (*front, error) {
	target, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("front for %s: %w", backend, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("front for %s: listen: %w", backend, err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	f := &front{
		port: ln.Addr().(*net.TCPAddr).Port,
		transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		done: make(chan struct{}),
	}
	rp.Transport = f.transport
	rp.ErrorLog = log.New(io.Discard, "", 0)
	f.url = "http://127.0.0.1:" + fmt.Sprint(f.port)
	f.srv = &http.Server{Handler: f.handler(rp), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		defer close(f.done)
		_ = f.srv.Serve(ln)
	}()
	return f, nil
}

// handler forwards r, holding f.dynamo for a DynamoDB request until
// moto's whole answer has been relayed. The request moto sees is not
// canceled when the client goes away (a timeout or a dropped connection
// in a fault-injecting proxy), so moto has finished with it before the
// next DynamoDB request is let in.
func (f *front) handler(rp http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("X-Amz-Target"), dynamoDBTarget) {
			rp.ServeHTTP(w, r)
			return
		}
		f.dynamo.Lock()
		defer f.dynamo.Unlock()
		// plainWriter hides http.CloseNotifier: with a context that is
		// never canceled, ReverseProxy would otherwise cancel the
		// forwarded request when the client closes its connection.
		rp.ServeHTTP(plainWriter{w}, r.WithContext(context.WithoutCancel(r.Context())))
	})
}

// close stops listening and drops open connections. A nil front has
// nothing to close.
func (f *front) close() error {
	if f == nil {
		return nil
	}
	err := f.srv.Close()
	<-f.done
	f.transport.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// plainWriter is an http.ResponseWriter with no optional interfaces.
type plainWriter struct{ http.ResponseWriter }

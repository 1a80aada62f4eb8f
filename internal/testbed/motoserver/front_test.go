package motoserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// frontFor starts a front before backend and closes it when t ends.
func frontFor(t *testing.T, backend *httptest.Server) *front {
	t.Helper()
	f, err := startFront(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.close(); err != nil {
			t.Errorf("close front: %v", err)
		}
	})
	return f
}

// post sends one request with the given X-Amz-Target through f.
func post(ctx context.Context, f *front, target string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url+"/", strings.NewReader("{}"))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestFrontLetsOneDynamoDBRequestThroughAtATime holds the first DynamoDB
// request inside the backend while eight more are sent: none of them may
// reach the backend before the first has been answered. Requests of other
// services are not held: four of them must be inside the backend at once.
func TestFrontLetsOneDynamoDBRequestThroughAtATime(t *testing.T) {
	var (
		mu            sync.Mutex
		inside        int // DynamoDB requests inside the backend
		most          int
		firstArrived  = make(chan struct{})
		othersArrived = make(chan struct{})
		others        int
		once          sync.Once
	)
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("X-Amz-Target"), dynamoDBTarget) {
			mu.Lock()
			others++
			if others == 4 {
				close(othersArrived)
			}
			mu.Unlock()
			select {
			case <-othersArrived:
			case <-time.After(10 * time.Second):
				http.Error(w, "the other requests were not let in together", http.StatusInternalServerError)
				return
			}
			return
		}
		mu.Lock()
		inside++
		most = max(most, inside)
		mu.Unlock()
		first := false
		once.Do(func() { first = true; close(firstArrived) })
		if first {
			<-release
		}
		mu.Lock()
		inside--
		mu.Unlock()
	}))
	defer backend.Close()
	f := frontFor(t, backend)
	ctx := context.Background()

	errs := make(chan error, 16)
	call := func(target string) {
		code, err := post(ctx, f, target)
		if err == nil && code != http.StatusOK {
			err = errors.New(target + ": " + http.StatusText(code))
		}
		errs <- err
	}
	go call(dynamoDBTarget + "PutItem")
	<-firstArrived
	for range 8 {
		go call(dynamoDBTarget + "PutItem")
	}
	// The other services pass while the first DynamoDB request is held.
	for range 4 {
		go call("TrentService.DescribeKey")
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	for range 9 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 1 {
		t.Errorf("%d DynamoDB requests were inside the backend at once, want 1", most)
	}
}

// TestFrontFinishesADynamoDBRequestItsClientAbandoned cancels a DynamoDB
// request while the backend holds it: the backend's request must not be
// canceled, and the next DynamoDB request must reach the backend only
// after the abandoned one has been answered (as DynamoDB, which applies a
// write whose caller went away before the next write on the item).
func TestFrontFinishesADynamoDBRequestItsClientAbandoned(t *testing.T) {
	arrived := make(chan struct{}, 2)
	var (
		mu        sync.Mutex
		firstDone bool
		canceled  bool
		order     []string
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), dynamoDBTarget)
		mu.Lock()
		order = append(order, op+" in (first done: "+map[bool]string{true: "yes", false: "no"}[firstDone]+")")
		mu.Unlock()
		if op != "PutItem" {
			return
		}
		arrived <- struct{}{}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.Context().Done():
			mu.Lock()
			canceled = true
			mu.Unlock()
		}
		mu.Lock()
		firstDone = true
		mu.Unlock()
	}))
	defer backend.Close()
	f := frontFor(t, backend)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := post(ctx, f, dynamoDBTarget+"PutItem")
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned request: %v, want context.Canceled", err)
	}
	if code, err := post(context.Background(), f, dynamoDBTarget+"GetItem"); err != nil || code != http.StatusOK {
		t.Fatalf("next request: %d, %v", code, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if canceled {
		t.Error("the backend's request was canceled with its client")
	}
	want := []string{"PutItem in (first done: no)", "GetItem in (first done: yes)"}
	if strings.Join(order, "; ") != strings.Join(want, "; ") {
		t.Errorf("backend saw %q, want %q", order, want)
	}
}

// TestFrontKeepsTheHostHeader: moto builds queue URLs and S3 locations
// from the Host header, which must name the front, not moto's own port.
func TestFrontKeepsTheHostHeader(t *testing.T) {
	var (
		mu  sync.Mutex
		got string
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = r.Host
	}))
	defer backend.Close()
	f := frontFor(t, backend)
	if _, err := post(context.Background(), f, "AmazonSQS.CreateQueue"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := strings.TrimPrefix(f.url, "http://"); got != want {
		t.Errorf("backend saw Host %q, want %q", got, want)
	}
}

// TestConditionalPutsThroughTheFrontHaveOneWinner races 12 conditional
// PutItems for one item, round after round, through the front to a real
// moto: exactly one may succeed each round, as in DynamoDB. Straight to
// moto 10 of 1,500 such rounds had two or more winners (measured once on
// 2026-12-04; 0 of 1,500 through the front).
func TestConditionalPutsThroughTheFrontHaveOneWinner(t *testing.T) {
	s := ForTest(t)
	ctx := context.Background()
	cfg, err := s.AWSConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	table := aws.String("leases")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            table,
		BillingMode:          types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
	}); err != nil {
		t.Fatal(err)
	}
	const rounds, racers = 250, 12
	for r := range rounds {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			wins   int
			errs   []error
			failed int
		)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// trailguard's lease condition (pkg/state/lease.go).
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: table,
					Item: map[string]types.AttributeValue{
						"pk": &types.AttributeValueMemberS{Value: "lease#" + strconv.Itoa(r)},
						"o":  &types.AttributeValueMemberS{Value: strconv.Itoa(i)},
					},
					ConditionExpression:      aws.String("attribute_not_exists(pk) OR until_ms < :now OR #o = :me"),
					ExpressionAttributeNames: map[string]string{"#o": "o"},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":now": &types.AttributeValueMemberN{Value: "0"},
						":me":  &types.AttributeValueMemberS{Value: "nobody"},
					},
				})
				mu.Lock()
				defer mu.Unlock()
				var ccf *types.ConditionalCheckFailedException
				switch {
				case err == nil:
					wins++
				case errors.As(err, &ccf):
					failed++
				default:
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", r, errors.Join(errs...))
		}
		if wins != 1 || failed != racers-1 {
			t.Fatalf("round %d: %d conditional puts succeeded and %d failed their condition, want 1 and %d", r, wins, failed, racers-1)
		}
	}
}

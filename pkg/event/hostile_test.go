package event

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileDir holds the corpus of malformed and hostile events (issue 7).
// Every file is named by what is wrong with it; control/ holds the two
// well-formed events the corpus was derived from. pkg/handler's tests run
// the same corpus through the real handlers and assert that none of it
// causes a write.
const hostileDir = "testdata/hostile"

// hostileCase is what Decode must make of one corpus file.
type hostileCase struct {
	// class is "malformed" (ErrMalformed), "ignored" (ErrIgnored) or
	// "request" (decoded: well formed, but about a resource trailguard
	// must find is not this account's or does not exist).
	class string
	// errHas is a substring the error must contain (it must say why).
	errHas string
	// want is the decoded request, for class "request".
	want Request
}

// hostileCases has one entry per file of hostileDir; the test fails when a
// file has no entry or an entry has no file.
var hostileCases = map[string]hostileCase{
	// Truncated, empty, not an object, not JSON.
	"truncated-in-string.json": {class: "malformed", errHas: "unexpected end of JSON input"},
	"truncated-in-detail.json": {class: "malformed", errHas: "unexpected end of JSON input"},
	"truncated-key-event.json": {class: "malformed", errHas: "unexpected end of JSON input"},
	"empty.json":               {class: "malformed", errHas: "empty input"},
	"whitespace.json":          {class: "malformed", errHas: "empty input"},
	"null.json":                {class: "malformed", errHas: "not a JSON object"},
	"array.json":               {class: "malformed", errHas: "not a JSON object"},
	"string.json":              {class: "malformed", errHas: "not a JSON object"},
	"number.json":              {class: "malformed", errHas: "not a JSON object"},
	"bom.json":                 {class: "malformed", errHas: "not a JSON object"},
	"trailing-garbage.json":    {class: "malformed", errHas: "after top-level value"},
	"two-objects.json":         {class: "malformed", errHas: "after top-level value"},
	"nul-byte.json":            {class: "malformed", errHas: "invalid character"},
	"deep-nesting.json":        {class: "malformed", errHas: "exceeded max depth"},
	"invalid-utf8-name.json":   {class: "ignored", errHas: "without a usable trail name"},
	// The last duplicate wins: DeleteTrail, a trail event since issue 11
	// (a trail reconcile only reads the trail again).
	"duplicate-event-name.json": {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "us-east-1", Partition: "aws", Trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/victim"}},

	// Wrong types.
	"detail-type-number.json":          {class: "malformed", errHas: "detail-type"},
	"detail-array.json":                {class: "malformed", errHas: "detail: not a JSON object"},
	"detail-string.json":               {class: "malformed", errHas: "detail: not a JSON object"},
	"detail-null.json":                 {class: "malformed", errHas: "no detail"},
	"event-name-number.json":           {class: "malformed", errHas: "eventName"},
	"event-name-list.json":             {class: "malformed", errHas: "eventName"},
	"account-number.json":              {class: "malformed", errHas: "recipientAccountId"},
	"region-object.json":               {class: "malformed", errHas: "awsRegion"},
	"error-code-bool.json":             {class: "malformed", errHas: "errorCode"},
	"request-parameters-string.json":   {class: "malformed", errHas: "requestParameters"},
	"trail-name-number.json":           {class: "malformed", errHas: "requestParameters.name"},
	"trail-arn-object.json":            {class: "malformed", errHas: "responseElements.trailARN"},
	"key-id-object.json":               {class: "malformed", errHas: "requestParameters.keyId"},
	"resources-string.json":            {class: "malformed", errHas: "resources"},
	"detail-resources-object.json":     {class: "malformed", errHas: "resources"},
	"detail-resources-arn-number.json": {class: "malformed", errHas: "resources.ARN"},
	"source-list.json":                 {class: "malformed", errHas: "source"},
	"id-number.json":                   {class: "malformed", errHas: "envelope.id"},

	// Missing fields.
	"detail-missing.json":      {class: "malformed", errHas: "no detail"},
	"account-missing.json":     {class: "malformed", errHas: `account "" is not a 12-digit account id`},
	"region-missing.json":      {class: "malformed", errHas: `region "" is not a Region name`},
	"trail-missing.json":       {class: "ignored", errHas: "without a usable trail name"},
	"key-missing.json":         {class: "ignored", errHas: "without a usable key id"},
	"event-name-missing.json":  {class: "ignored", errHas: "is not handled"},
	"event-name-null.json":     {class: "ignored", errHas: "is not handled"},
	"detail-type-missing.json": {class: "ignored", errHas: "not an API call event"},
	"source-missing.json":      {class: "ignored", errHas: "is not handled"},
	"empty-object.json":        {class: "ignored", errHas: "not an API call event"},

	// Bad values: injection, traversal, wildcards, look-alikes.
	"account-short.json":        {class: "malformed", errHas: "12-digit"},
	"account-letters.json":      {class: "malformed", errHas: "12-digit"},
	"region-injection.json":     {class: "malformed", errHas: "is not a Region name"},
	"region-traversal.json":     {class: "malformed", errHas: "is not a Region name"},
	"trail-name-traversal.json": {class: "ignored", errHas: "without a usable trail name"},
	"trail-name-newline.json":   {class: "ignored", errHas: "without a usable trail name"},
	"trail-name-homoglyph.json": {class: "ignored", errHas: "without a usable trail name"},
	"trail-name-wildcard.json":  {class: "ignored", errHas: "without a usable trail name"},
	"trail-name-empty.json":     {class: "ignored", errHas: "without a usable trail name"},
	"trail-arn-wildcard.json":   {class: "ignored", errHas: "without a usable trail name"},
	"key-id-wildcard.json":      {class: "ignored", errHas: "without a usable key id"},
	"key-alias-wildcard.json":   {class: "ignored", errHas: "without a usable key id"},
	"key-id-injection.json":     {class: "ignored", errHas: "without a usable key id"},

	// Huge values: refused, and the error message stays short.
	"trail-name-huge.json": {class: "ignored", errHas: "bytes)"},
	"trail-arn-huge.json":  {class: "ignored", errHas: "without a usable trail name"},
	"key-alias-huge.json":  {class: "ignored", errHas: "bytes)"},
	"event-name-huge.json": {class: "ignored", errHas: "(33000 bytes)"},
	"resources-many.json":  {class: "ignored", errHas: "without a usable key id"},
	"user-arn-huge.json":   {class: "ignored", errHas: "without a usable trail name"},

	// Unexpected event names, sources and detail-types.
	// Handled since issue 11: a trail that stops logging or disappears
	// blinds trailguard's event rules.
	"event-name-deletetrail.json":    {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "us-east-1", Partition: "aws", Trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/victim"}},
	"event-name-stoplogging.json":    {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "us-east-1", Partition: "aws", Trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/victim"}},
	"event-name-updatetrail.json":    {class: "ignored", errHas: `"updatetrail"`},
	"event-name-trailing-space.json": {class: "ignored", errHas: `"UpdateTrail "`},
	"event-name-createkey.json":      {class: "ignored", errHas: `"CreateKey"`},
	"event-name-deletealias.json":    {class: "ignored", errHas: `"DeleteAlias"`},
	"source-mismatch-trail.json":     {class: "ignored", errHas: `from "kms.amazonaws.com"`},
	"source-mismatch-key.json":       {class: "ignored", errHas: `from "cloudtrail.amazonaws.com"`},
	"detail-type-sign-in.json":       {class: "ignored", errHas: "not an API call event"},
	"detail-type-scheduled.json":     {class: "ignored", errHas: "not an API call event"},
	"error-code.json":                {class: "ignored", errHas: `errorCode "AccessDenied"`},

	// Well formed, but naming another account's or partition's resource,
	// or a Region that does not exist. Decode only identifies the
	// resource; the handler tests prove that none of these makes
	// trailguard change this account's "victim" trail or key.
	"other-account-trail-name.json": {class: "request", want: Request{Kind: KindTrail, Account: "222222222222", Region: "us-east-1", Partition: "aws", Trail: "victim"}},
	"other-account-trail-arn.json": {class: "request", want: Request{Kind: KindTrail, Account: "222222222222", Region: "us-east-1", Partition: "aws",
		Trail: "arn:aws:cloudtrail:us-east-1:222222222222:trail/victim"}},
	"foreign-trail-arn.json": {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "us-east-1", Partition: "aws",
		Trail: "arn:aws:cloudtrail:us-east-1:222222222222:trail/victim"}},
	"other-account-key-id.json": {class: "request", want: Request{Kind: KindKey, Account: "222222222222", Region: "us-east-1", Partition: "aws",
		Key: "1234abcd-12ab-34cd-56ef-1234567890ab"}},
	"foreign-key-arn.json": {class: "request", want: Request{Kind: KindKey, Account: "123456789012", Region: "us-east-1", Partition: "aws",
		Key: "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
	"other-partition-trail.json": {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "cn-north-1", Partition: "aws-cn",
		Trail: "arn:aws-cn:cloudtrail:cn-north-1:123456789012:trail/victim"}},
	"other-partition-key.json": {class: "request", want: Request{Kind: KindKey, Account: "123456789012", Region: "us-gov-west-1", Partition: "aws-us-gov",
		Key: "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
	"partition-region-mismatch.json": {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "us-east-1", Partition: "aws-cn",
		Trail: "arn:aws-cn:cloudtrail:us-east-1:123456789012:trail/victim"}},
	"unknown-partition.json": {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "us-east-1", Partition: "aws-evil",
		Trail: "arn:aws-evil:cloudtrail:us-east-1:123456789012:trail/victim"}},
	"unknown-region.json": {class: "request", want: Request{Kind: KindTrail, Account: "123456789012", Region: "eu-west-9", Partition: "aws",
		Trail: "arn:aws:cloudtrail:eu-west-9:123456789012:trail/victim"}},
}

// TestHostileEvents decodes every file of the hostile corpus: each gives
// the expected class of error with a message that says why, or the
// expected request, and never panics; every result also satisfies the
// invariants FuzzDecode checks.
func TestHostileEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(hostileDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 60 {
		t.Fatalf("hostile corpus has %d files, want the full corpus (>= 60)", len(files))
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			tc, ok := hostileCases[name]
			if !ok {
				t.Fatalf("%s has no entry in hostileCases: add what Decode must make of it", name)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkDecoded(t, raw) // no panic, and Decode's general contract
			got, err := Decode(raw)
			switch tc.class {
			case "malformed", "ignored":
				want := map[string]error{"malformed": ErrMalformed, "ignored": ErrIgnored}[tc.class]
				if !errors.Is(err, want) {
					t.Fatalf("Decode = %+v, %v; want an error wrapping %v", got, err, want)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not say %q", err, tc.errHas)
				}
				// A message never carries a huge value whole.
				if len(err.Error()) > 1024 {
					t.Errorf("error message is %d bytes long", len(err.Error()))
				}
			case "request":
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				got.EventName, got.EventID = "", ""
				if got != tc.want {
					t.Errorf("Decode =\n %+v\nwant\n %+v", got, tc.want)
				}
			default:
				t.Fatalf("bad class %q", tc.class)
			}
		})
	}
	for name := range hostileCases {
		if !seen[name] {
			t.Errorf("hostileCases has %s, which is not in %s", name, hostileDir)
		}
	}
}

// TestHostileControls proves the corpus is close to real events: the two
// controls it was derived from decode to requests for the "victim" trail
// and key, so each hostile file differs from a working event only in what
// its name says.
func TestHostileControls(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Request
	}{
		{"trail.json", Request{Kind: KindTrail, Account: "123456789012", Region: "us-east-1", Partition: "aws",
			Trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/victim"}},
		{"key.json", Request{Kind: KindKey, Account: "123456789012", Region: "us-east-1", Partition: "aws",
			Key: "1234abcd-12ab-34cd-56ef-1234567890ab"}},
	} {
		raw, err := os.ReadFile(filepath.Join(hostileDir, "control", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		got.EventName, got.EventID = "", ""
		if got != tc.want {
			t.Errorf("%s: Decode = %+v, want %+v", tc.file, got, tc.want)
		}
	}
}

// FuzzDecodeHostile fuzzes Decode from the hostile corpus (FuzzDecode
// starts from the well-formed fixtures): mutations of broken events reach
// the error paths faster. The invariants are FuzzDecode's. Plain go test
// runs every seed once, so the corpus is also a regression suite.
func FuzzDecodeHostile(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(hostileDir, "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDecoded(t, raw)
	})
}

package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// topLevelNames returns the member names of a JSON object in order.
func topLevelNames(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %s: %v", raw, err)
	}
	return b.String()
}

// TestRoundTrip proves that every fixture comes back equal in meaning:
// the same members in the same order, and every statement's own JSON
// unchanged (up to whitespace) and in the same order.
func TestRoundTrip(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			in := readFixture(t, name)
			d := mustParse(t, in)
			for _, marshal := range []struct {
				name string
				fn   func() ([]byte, error)
			}{{"Marshal", d.Marshal}, {"MarshalCompact", d.MarshalCompact}} {
				out, err := marshal.fn()
				if err != nil {
					t.Fatalf("%s: %v", marshal.name, err)
				}
				if !json.Valid(out) {
					t.Fatalf("%s wrote invalid JSON: %s", marshal.name, out)
				}
				d2 := mustParse(t, out)
				if !d.Equal(d2) {
					t.Errorf("%s: re-parsed document differs\nin:  %s\nout: %s", marshal.name, in, out)
				}
				if got, want := topLevelNames(t, out), topLevelNames(t, in); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: members %q, want %q", marshal.name, got, want)
				}
				if d2.single != d.single {
					t.Errorf("%s: Statement shape changed (single %v -> %v)", marshal.name, d.single, d2.single)
				}
				for i := range d.Statements {
					if got, want := compact(t, d2.Statements[i].Raw), compact(t, d.Statements[i].Raw); got != want {
						t.Errorf("%s: statement %d\n got %s\nwant %s", marshal.name, i, got, want)
					}
				}
				// A second round trip writes the same bytes.
				again, err := marshal.fn()
				if err != nil || !bytes.Equal(again, out) {
					t.Errorf("%s is not stable: %v", marshal.name, err)
				}
			}
		})
	}
}

func TestMarshalIndented(t *testing.T) {
	d := mustParse(t, readFixture(t, "moto-default.json"))
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::123456789012:root"
      },
      "Action": "kms:*",
      "Resource": "*"
    }
  ]
}`
	if string(out) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", out, want)
	}
	c, err := d.MarshalCompact()
	if err != nil {
		t.Fatal(err)
	}
	if string(c) != compact(t, []byte(want)) {
		t.Errorf("MarshalCompact = %s", c)
	}
}

func TestMarshalUnknownMembersKept(t *testing.T) {
	d := mustParse(t, readFixture(t, "single-statement.json"))
	out, err := d.MarshalCompact()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"Comment":{"owner":"team-a","ticket":42}`,
		`"x-note":["kept",true,1.5e3]`,
		`"Tags":[null,false,0]`,
		`"Statement":{"Sid":"Everyone may describe"`, // still a single object
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}

func TestMarshalUnicode(t *testing.T) {
	d := mustParse(t, readFixture(t, "unicode.json"))
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d2 := mustParse(t, out)
	if d2.ID != "clé-日本語-é\u2028" {
		t.Errorf("Id = %q", d2.ID)
	}
	if got := d2.Statements[0].Condition["StringEquals"]["kms:EncryptionContext:département"]; !reflect.DeepEqual(got, []string{"Sécurité", "🔒 <&>"}) {
		t.Errorf("condition values = %q", got)
	}
	if !strings.Contains(string(out), `"Sid": "Lecture des journaux é 日本"`) {
		t.Errorf("UTF-8 not written as is:\n%s", out)
	}

	// Statements built in code keep their text too, without HTML escaping.
	s := Statement{Sid: "Zoë <&> \u2028 \x01 \"q\" \\ \xff", Effect: EffectAllow, Principal: AnyPrincipal(), Action: []string{"kms:Decrypt"}, Resource: []string{"*"}}
	raw, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatalf("invalid JSON %s", raw)
	}
	var back struct{ Sid string }
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if want := "Zoë <&> \u2028 \x01 \"q\" \\ \ufffd"; back.Sid != want {
		t.Errorf("Sid = %q, want %q", back.Sid, want)
	}
	if !strings.Contains(string(raw), `Zoë <&>`) {
		t.Errorf("text escaped needlessly: %s", raw)
	}
}

func TestStatementMarshalFieldOrder(t *testing.T) {
	tests := []struct {
		name string
		s    Statement
		want string
	}{
		{
			name: "encrypt statement",
			s: Statement{
				Condition: Condition{
					"StringLike":   {"kms:EncryptionContext:aws:cloudtrail:arn": {"arn:aws:cloudtrail:*:111111111111:trail/*", "arn:aws:cloudtrail:*:222222222222:trail/*"}},
					"StringEquals": {"aws:SourceArn": {"arn:aws:cloudtrail:us-east-2:111111111111:trail/TrailName"}},
				},
				Resource:  []string{"*"},
				Action:    []string{"kms:GenerateDataKey*"},
				Principal: ServicePrincipal("cloudtrail.amazonaws.com"),
				Effect:    EffectAllow,
				Sid:       "TrailguardCloudTrailEncrypt",
			},
			want: `{"Sid":"TrailguardCloudTrailEncrypt","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*","Condition":{"StringEquals":{"aws:SourceArn":"arn:aws:cloudtrail:us-east-2:111111111111:trail/TrailName"},"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":["arn:aws:cloudtrail:*:111111111111:trail/*","arn:aws:cloudtrail:*:222222222222:trail/*"]}}}`,
		},
		{
			name: "principal types in AWS order, empty list kept",
			s: Statement{
				Effect:      EffectDeny,
				Principal:   &Principal{Values: map[string][]string{"Zed": {"z"}, "Service": {"s"}, "AWS": {"a", "b"}, "Federated": {"f"}, "CanonicalUser": {"c"}}},
				NotAction:   []string{"kms:Describe*"},
				HasNotRes:   true,
				NotResource: nil,
			},
			want: `{"Effect":"Deny","Principal":{"AWS":["a","b"],"Service":"s","Federated":"f","CanonicalUser":"c","Zed":"z"},"NotAction":"kms:Describe*","NotResource":[]}`,
		},
		{
			name: "not principal, wildcard wins over values",
			s:    Statement{Sid: "x", Effect: EffectAllow, NotPrincipal: &Principal{Wildcard: true, Values: map[string][]string{"AWS": {"a"}}}, Action: []string{"a"}, Resource: []string{"r"}},
			want: `{"Sid":"x","Effect":"Allow","NotPrincipal":"*","Action":"a","Resource":"r"}`,
		},
		{
			name: "raw wins",
			s:    Statement{Sid: "ignored", Effect: "Allow", Raw: json.RawMessage(`{ "Effect": "Allow", "Principal": "*", "Action": "a", "Resource": "*", "Extra": 1 }`)},
			want: `{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","Extra":1}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal =\n%s\nwant\n%s", got, tt.want)
			}
			// Parsing what was written gives the same statement back.
			d := mustParse(t, []byte(`{"Statement":[`+string(got)+`]}`))
			if tt.s.Raw == nil && !d.Statements[0].Equal(tt.s) {
				t.Errorf("re-parsed %+v, want %+v", d.Statements[0], tt.s)
			}
		})
	}
}

func TestStatementMarshalInvalid(t *testing.T) {
	tests := []struct {
		name string
		s    Statement
		want string
	}{
		{"no effect", Statement{Action: []string{"a"}}, `Effect must be "Allow" or "Deny"`},
		{"action and not action", Statement{Effect: "Allow", Action: []string{"a"}, HasNotAction: true}, "both Action and NotAction"},
		{"principal and not principal", Statement{Effect: "Deny", Principal: AnyPrincipal(), NotPrincipal: AWSPrincipal("1")}, "both Principal and NotPrincipal"},
		{"raw not an object", Statement{Effect: "Allow", Raw: json.RawMessage(`[]`)}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.Marshal()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Marshal error %v, want %q", err, tt.want)
			}
			d := NewDocument()
			d.Append(tt.s)
			if tt.s.Raw != nil {
				return // Append clears Raw
			}
			if _, err := d.Marshal(); err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("Document.Marshal error %v, want ErrInvalid", err)
			}
		})
	}
}

func TestNewDocument(t *testing.T) {
	d := NewDocument()
	out, err := d.MarshalCompact()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"Version":"2012-10-17","Statement":[]}` {
		t.Errorf("empty document = %s", out)
	}
	d.ID = "trailguard"
	d.Append(Statement{Sid: "A", Effect: EffectAllow, Principal: AWSPrincipal("arn:aws:iam::1:root"), Action: []string{"kms:*"}, Resource: []string{"*"}})
	out, err = d.MarshalCompact()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Id":"trailguard","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"kms:*","Resource":"*"}]}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	var zero Document
	out, err = zero.MarshalCompact()
	if err != nil || string(out) != `{"Statement":[]}` {
		t.Errorf("zero document = %s, %v", out, err)
	}
	var nilDoc *Document
	if _, err := nilDoc.Marshal(); err == nil {
		t.Error("nil document marshalled")
	}
}

func TestMarshalStatementShape(t *testing.T) {
	encrypt := Statement{Sid: "TrailguardEncrypt", Effect: EffectAllow, Principal: ServicePrincipal("cloudtrail.amazonaws.com"), Action: []string{"kms:GenerateDataKey*"}, Resource: []string{"*"}}

	t.Run("single object replaced stays single", func(t *testing.T) {
		d := mustParse(t, readFixture(t, "single-statement.json"))
		if err := d.Replace(0, encrypt); err != nil {
			t.Fatal(err)
		}
		out, _ := d.MarshalCompact()
		if !strings.Contains(string(out), `"Statement":{"Sid":"TrailguardEncrypt"`) {
			t.Errorf("not a single object: %s", out)
		}
	})
	t.Run("single object appended to becomes a list", func(t *testing.T) {
		d := mustParse(t, readFixture(t, "single-statement.json"))
		d.Append(encrypt)
		out, _ := d.MarshalCompact()
		if !strings.Contains(string(out), `"Statement":[{"Sid":"Everyone may describe"`) || !strings.Contains(string(out), `"x-note":["kept",true,1.5e3]},{"Sid":"TrailguardEncrypt"`) {
			t.Errorf("not a list in order: %s", out)
		}
		if got := topLevelNames(t, out); !reflect.DeepEqual(got, []string{"Comment", "Version", "Statement", "Tags"}) {
			t.Errorf("members %q", got)
		}
	})
	t.Run("list of one stays a list", func(t *testing.T) {
		d := mustParse(t, readFixture(t, "moto-default.json"))
		out, _ := d.MarshalCompact()
		if !strings.Contains(string(out), `"Statement":[{`) {
			t.Errorf("not a list: %s", out)
		}
	})
	// A document without a Statement member no longer parses ("not a key
	// policy: no Statement", see TestParseNoStatement).
	t.Run("version and id added in front", func(t *testing.T) {
		d := mustParse(t, []byte(`{"Statement":[]}`))
		d.Version, d.ID = "2012-10-17", "k"
		out, _ := d.MarshalCompact()
		if string(out) != `{"Version":"2012-10-17","Id":"k","Statement":[]}` {
			t.Errorf("got %s", out)
		}
	})
}

// TestMergeKeepsForeignStatements builds trailguard statements in code,
// replaces and appends them, and checks every foreign statement comes back
// unchanged and in order.
func TestMergeKeepsForeignStatements(t *testing.T) {
	in := readFixture(t, "console-default.json")
	d := mustParse(t, in)
	orig := mustParse(t, in)

	if _, ok := d.Find("TrailguardCloudTrailEncrypt"); ok {
		t.Fatal("found a statement that is not there")
	}
	i, ok := d.Find("Allow CloudTrail to describe key")
	if !ok || i != 2 {
		t.Fatalf("Find = %d, %v", i, ok)
	}
	describe := Statement{Sid: "TrailguardCloudTrailDescribe", Effect: EffectAllow, Principal: ServicePrincipal("cloudtrail.amazonaws.com"), Action: []string{"kms:DescribeKey"}, Resource: []string{"*"},
		Condition: Condition{"StringEquals": {"aws:SourceArn": {"arn:aws:cloudtrail:us-east-1:111111111111:trail/management-events"}}}}
	if err := d.Replace(i, describe); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{-1, len(d.Statements)} {
		if err := d.Replace(bad, describe); err == nil {
			t.Errorf("Replace(%d) succeeded", bad)
		}
	}
	reader := Statement{Sid: "TrailguardReaders", Effect: EffectAllow, Principal: AWSPrincipal("arn:aws:iam::111111111111:role/Auditor"), Action: []string{"kms:Decrypt"}, Resource: []string{"*"},
		Condition: Condition{"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": {"false"}}}}
	reader.Raw = json.RawMessage(`{"stale":true}`) // Append must ignore it
	d.Append(reader)

	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := mustParse(t, out)
	if len(got.Statements) != len(orig.Statements)+1 {
		t.Fatalf("%d statements, want %d", len(got.Statements), len(orig.Statements)+1)
	}
	for j := range orig.Statements {
		want := orig.Statements[j]
		if j == i {
			want = describe
		}
		if !got.Statements[j].Equal(want) {
			t.Errorf("statement %d = %+v, want %+v", j, got.Statements[j], want)
		}
		if j != i && compact(t, got.Statements[j].Raw) != compact(t, orig.Statements[j].Raw) {
			t.Errorf("foreign statement %d changed:\n%s\n%s", j, got.Statements[j].Raw, orig.Statements[j].Raw)
		}
	}
	reader.Raw = nil
	if last := got.Statements[len(got.Statements)-1]; !last.Equal(reader) {
		t.Errorf("appended statement = %+v", last)
	}
	if got.ID != orig.ID || got.Version != orig.Version {
		t.Errorf("Version/Id changed: %q %q", got.Version, got.ID)
	}

	// Removing our own statement again restores the others' order.
	if err := got.Remove(len(got.Statements) - 1); err != nil {
		t.Fatal(err)
	}
	if err := got.Remove(99); err == nil {
		t.Error("Remove(99) succeeded")
	}
	if len(got.Statements) != len(orig.Statements) {
		t.Errorf("Remove left %d statements", len(got.Statements))
	}
}

func TestMarshalFit(t *testing.T) {
	small := mustParse(t, readFixture(t, "documented.json"))
	out, err := small.MarshalFit()
	if err != nil || !bytes.Contains(out, []byte("\n  ")) {
		t.Errorf("small policy not indented: %v\n%s", err, out)
	}

	// A policy that fits only when compact.
	d := NewDocument()
	for i := 0; len(mustMarshalCompact(t, d)) < MaxSize-600; i++ {
		d.Append(Statement{Sid: "S" + strings.Repeat("x", 20), Effect: EffectAllow, Principal: AWSPrincipal("arn:aws:iam::111111111111:role/R"), Action: []string{"kms:Decrypt", "kms:Encrypt"}, Resource: []string{"*"}})
	}
	out, err = d.MarshalFit()
	if err != nil {
		t.Fatal(err)
	}
	indented, _ := d.Marshal()
	if len(indented) <= MaxSize {
		t.Fatalf("test setup: indented form fits (%d bytes)", len(indented))
	}
	if len(out) > MaxSize || bytes.Contains(out, []byte("\n")) {
		t.Errorf("MarshalFit returned %d bytes, indented=%v", len(out), bytes.Contains(out, []byte("\n")))
	}

	// One that does not fit at all.
	for len(mustMarshalCompact(t, d)) <= MaxSize {
		d.Append(Statement{Sid: "More", Effect: EffectDeny, Principal: AnyPrincipal(), Action: []string{"kms:ScheduleKeyDeletion"}, Resource: []string{"*"}})
	}
	if _, err := d.MarshalFit(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MarshalFit error %v, want ErrTooLarge", err)
	}
}

func mustMarshalCompact(t *testing.T, d *Document) []byte {
	t.Helper()
	out, err := d.MarshalCompact()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

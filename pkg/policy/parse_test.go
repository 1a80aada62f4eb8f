package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseShapes(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, d *Document)
	}{
		{
			name:  "statement as a single object",
			input: `{"Version":"2012-10-17","Statement":{"Sid":"One","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}`,
			check: func(t *testing.T, d *Document) {
				if len(d.Statements) != 1 || d.Statements[0].Sid != "One" || !d.single {
					t.Errorf("statements = %+v, single = %v", d.Statements, d.single)
				}
			},
		},
		{
			name:  "strings become one-element lists",
			input: `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"111122223333","Service":"cloudtrail.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}]}`,
			check: func(t *testing.T, d *Document) {
				s := d.Statements[0]
				want := Statement{
					Effect:      "Deny",
					Principal:   &Principal{Values: map[string][]string{"AWS": {"111122223333"}, "Service": {"cloudtrail.amazonaws.com"}}},
					Action:      []string{"kms:Decrypt"},
					Resource:    []string{"*"},
					HasAction:   true,
					HasResource: true,
				}
				if !s.Equal(want) || !s.HasAction || !s.HasResource || s.HasNotAction || s.HasNotRes {
					t.Errorf("got %+v, want %+v", s, want)
				}
			},
		},
		{
			name:  "lists stay lists",
			input: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["a","b"]},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":["r1","r2"]}]}`,
			check: func(t *testing.T, d *Document) {
				s := d.Statements[0]
				if !reflect.DeepEqual(s.Action, []string{"kms:Encrypt", "kms:Decrypt"}) ||
					!reflect.DeepEqual(s.Resource, []string{"r1", "r2"}) ||
					!reflect.DeepEqual(s.Principal.Values["AWS"], []string{"a", "b"}) {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:  "principal star string",
			input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
			check: func(t *testing.T, d *Document) {
				if p := d.Statements[0].Principal; p == nil || !p.Wildcard {
					t.Errorf("principal = %+v, want wildcard", p)
				}
			},
		},
		{
			name:  "principal AWS star",
			input: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`,
			check: func(t *testing.T, d *Document) {
				p := d.Statements[0].Principal
				if p == nil || p.Wildcard || !reflect.DeepEqual(p.Values["AWS"], []string{"*"}) {
					t.Errorf("principal = %+v", p)
				}
			},
		},
		{
			name:  "NotPrincipal NotAction NotResource",
			input: `{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::1:root"]},"NotAction":"kms:Describe*","NotResource":[],"Condition":{}}]}`,
			check: func(t *testing.T, d *Document) {
				s := d.Statements[0]
				if s.Principal != nil || s.NotPrincipal == nil || !s.HasNotAction || s.HasAction ||
					!s.HasNotRes || s.HasResource || len(s.NotResource) != 0 || s.Condition == nil {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:  "condition values of every type",
			input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"n":[1,2.50,-3e2]},"StringEquals":{"s":"x","t":["y",true]}}}]}`,
			check: func(t *testing.T, d *Document) {
				want := Condition{
					"Bool":            {"aws:SecureTransport": {"false"}},
					"NumericLessThan": {"n": {"1", "2.50", "-3e2"}},
					"StringEquals":    {"s": {"x"}, "t": {"y", "true"}},
				}
				if got := d.Statements[0].Condition; !reflect.DeepEqual(got, want) {
					t.Errorf("condition = %v, want %v", got, want)
				}
			},
		},
		{
			name:  "unknown members at both levels are accepted",
			input: `{"Foo":1,"Version":"2012-10-17","Id":"x","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Bar":{"a":[1]}}],"Baz":null}`,
			check: func(t *testing.T, d *Document) {
				if d.Version != "2012-10-17" || d.ID != "x" || len(d.Statements) != 1 {
					t.Errorf("got %+v", d)
				}
				var names []string
				for _, f := range d.fields {
					names = append(names, f.name)
				}
				if want := []string{"Foo", "Version", "Id", "Statement", "Baz"}; !reflect.DeepEqual(names, want) {
					t.Errorf("member order = %v, want %v", names, want)
				}
			},
		},
		{
			name:  "empty statement list and no version",
			input: `{"Statement":[]}`,
			check: func(t *testing.T, d *Document) {
				if len(d.Statements) != 0 || d.Version != "" {
					t.Errorf("got %+v", d)
				}
			},
		},
		{
			name:  "duplicate keys: the last one wins",
			input: `{"Id":"first","Statement":[{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"a","Action":"b","Resource":"*"}],"Id":"last"}`,
			check: func(t *testing.T, d *Document) {
				s := d.Statements[0]
				if d.ID != "last" || s.Effect != "Allow" || !reflect.DeepEqual(s.Action, []string{"b"}) {
					t.Errorf("got id %q, statement %+v", d.ID, s)
				}
				if len(d.fields) != 2 {
					t.Errorf("fields = %v, want Id once and Statement", d.fields)
				}
			},
		},
		{
			name:  "raw is kept",
			input: `{"Statement":[ {"Effect" : "Allow","Principal":"*","Action":"kms:*","Resource":"*"} ]}`,
			check: func(t *testing.T, d *Document) {
				if got := string(d.Statements[0].Raw); got != `{"Effect" : "Allow","Principal":"*","Action":"kms:*","Resource":"*"}` {
					t.Errorf("Raw = %s", got)
				}
			},
		},
		{
			name:  "unicode and escapes are decoded",
			input: `{"Id":"\u00e9t\u00e9 ☃","Statement":[{"Sid":"日本\ud83d\udd12","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
			check: func(t *testing.T, d *Document) {
				if d.ID != "été ☃" || d.Statements[0].Sid != "日本🔒" {
					t.Errorf("id %q sid %q", d.ID, d.Statements[0].Sid)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, []byte(tt.input)))
		})
	}
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file       string
		statements int
		sids       []string
	}{
		{"documented.json", 5, []string{"Enable IAM User Permissions", "Allow CloudTrail to encrypt logs", "Allow CloudTrail access", "Enable CloudTrail log decrypt permissions", "Allow principals in the account to decrypt log files"}},
		{"console-default.json", 6, nil},
		{"moto-default.json", 1, []string{"Enable IAM User Permissions"}},
		{"single-statement.json", 1, []string{"Everyone may describe"}},
		{"deny-cloudtrail.json", 4, nil},
		{"partitions.json", 3, []string{"ChinaRoot", "GovCloudEncrypt", "ChinaReaderRole"}},
		{"unicode.json", 1, []string{"Lecture des journaux é 日本"}},
		{"conditions.json", 1, []string{"AllForms"}},
		{"duplicate-sids.json", 6, []string{"Same", "", "Same", "Other", "Other", "Same"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := mustParse(t, readFixture(t, tt.file))
			if len(d.Statements) != tt.statements {
				t.Fatalf("%d statements, want %d", len(d.Statements), tt.statements)
			}
			if tt.sids != nil {
				var sids []string
				for _, s := range d.Statements {
					sids = append(sids, s.Sid)
				}
				if !reflect.DeepEqual(sids, tt.sids) {
					t.Errorf("sids = %q, want %q", sids, tt.sids)
				}
			}
		})
	}
}

func TestParseConditionsFixture(t *testing.T) {
	d := mustParse(t, readFixture(t, "conditions.json"))
	s := d.Statements[0]
	if got := s.Principal.Values["Federated"]; !reflect.DeepEqual(got, []string{"cognito-identity.amazonaws.com"}) {
		t.Errorf("Federated = %q", got)
	}
	checks := map[string]map[string][]string{
		"Bool":                      {"kms:GrantIsForAWSResource": {"true"}},
		"NumericLessThanEquals":     {"kms:RecipientAttestation:ImageSha384": {"3"}},
		"Null":                      {"kms:ViaService": {"false", "true"}},
		"NumericEquals":             {"kms:Big": {"12345678901234567890"}},
		"IpAddress":                 {"aws:SourceIp": {"203.0.113.0/24", "2001:db8::/32"}},
		"ForAllValues:StringEquals": {"kms:GrantOperations": {"Decrypt", "Encrypt"}},
	}
	for op, want := range checks {
		if got := s.Condition[op]; !reflect.DeepEqual(got, want) {
			t.Errorf("Condition[%s] = %v, want %v", op, got, want)
		}
	}
	if len(s.Condition) != 11 {
		t.Errorf("%d operators, want 11", len(s.Condition))
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string // inline input, or
		file  string // a fixture under testdata/bad
		want  string // substring of the error
	}{
		{name: "empty", input: ``, want: "not valid JSON"},
		{name: "not JSON", file: "not-json.txt", want: "not valid JSON"},
		{name: "truncated", file: "truncated.json", want: "not valid JSON"},
		{name: "trailing data", file: "trailing-data.json", want: "not valid JSON"},
		{name: "top-level list", file: "top-level-list.json", want: "not a JSON object (got a list)"},
		{name: "top-level string", input: `"policy"`, want: "not a JSON object (got a string)"},
		{name: "top-level null", input: `null`, want: "not a JSON object (got null)"},
		{name: "effect not a string", file: "effect-bool.json", want: "Effect must be a string, got a boolean"},
		{name: "effect lower case", file: "effect-lowercase.json", want: `Effect must be "Allow" or "Deny", got "allow"`},
		{name: "effect empty", input: `{"Statement":[{"Effect":"","Principal":"*","Action":"a","Resource":"*"}]}`, want: `got ""`},
		{name: "missing effect", file: "missing-effect.json", want: `statement 0 (Sid "NoEffect"): missing Effect`},
		{name: "action a number", file: "action-number.json", want: "Action must be a string or a list of strings, got a number"},
		{name: "action list with null", input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["kms:Decrypt",null],"Resource":"*"}]}`, want: "Action[1] must be a string, got null"},
		{name: "resource an object", input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":{}}]}`, want: "Resource must be a string or a list of strings, got an object"},
		{name: "both Action and NotAction", file: "action-and-notaction.json", want: "both Action and NotAction"},
		{name: "both Resource and NotResource", input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","NotResource":"x"}]}`, want: "both Resource and NotResource"},
		{name: "both Principal and NotPrincipal", input: `{"Statement":[{"Effect":"Deny","Principal":"*","NotPrincipal":{"AWS":"1"},"Action":"a","Resource":"*"}]}`, want: "both Principal and NotPrincipal"},
		{name: "statement item a string", file: "statement-item-string.json", want: "statement 0: statement must be an object, got a string"},
		{name: "second statement a list", input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*"},[]]}`, want: "statement 1: statement must be an object, got a list"},
		{name: "statement a string", file: "statement-string.json", want: "Statement must be an object or a list of objects, got a string"},
		{name: "statement null", input: `{"Statement":null}`, want: "got null"},
		{name: "version a number", input: `{"Version":2012,"Statement":[]}`, want: "Version must be a string, got a number"},
		{name: "id a list", input: `{"Id":["x"],"Statement":[]}`, want: "Id must be a string, got a list"},
		{name: "sid a number", input: `{"Statement":[{"Sid":1,"Effect":"Allow","Principal":"*","Action":"a","Resource":"*"}]}`, want: "Sid must be a string, got a number"},
		{name: "principal other string", input: `{"Statement":[{"Effect":"Allow","Principal":"arn:aws:iam::1:root","Action":"a","Resource":"*"}]}`, want: `a string principal must be "*"`},
		{name: "principal a list", input: `{"Statement":[{"Effect":"Allow","Principal":["*"],"Action":"a","Resource":"*"}]}`, want: "Principal must be \"*\" or an object, got a list"},
		{name: "principal value a number", file: "principal-number.json", want: "Principal.AWS[1] must be a string, got a number"},
		{name: "condition a list", input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","Condition":[]}]}`, want: "Condition must be an object, got a list"},
		{name: "condition operator a string", input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","Condition":{"StringEquals":"x"}}]}`, want: "Condition.StringEquals must be an object, got a string"},
		{name: "condition value an object", file: "condition-object-value.json", want: "Condition.StringEquals.k: value must be a string, boolean or number"},
		{name: "condition value null in list", input: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","Condition":{"Null":{"k":["true",null]}}}]}`, want: "value 1 must be a string, boolean or number, got null"},
		{name: "element name in wrong case", input: `{"Statement":[{"Effect":"Allow","Principal":"*","action":"a","Resource":"*"}]}`, want: `member "action": element names are case-sensitive`},
		{name: "top-level name in wrong case", input: `{"statement":[]}`, want: `member "statement": element names are case-sensitive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := []byte(tt.input)
			if tt.file != "" {
				input = readFixture(t, "bad/"+tt.file)
			}
			d, err := Parse(input)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", d)
			}
			if d != nil {
				t.Errorf("document %+v returned with error", d)
			}
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge) {
				t.Errorf("error %v: want ErrInvalid only", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "parse key policy: ") {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// sizedPolicy returns a valid policy of exactly n bytes (n >= 100).
func sizedPolicy(n int) []byte {
	head := `{"Version":"2012-10-17","Statement":[],"Padding":"`
	tail := `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func TestParseSize(t *testing.T) {
	if _, err := Parse(sizedPolicy(MaxSize)); err != nil {
		t.Errorf("policy of exactly MaxSize bytes: %v", err)
	}
	_, err := Parse(sizedPolicy(MaxSize + 1))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("policy of MaxSize+1 bytes: error %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "32769 bytes") {
		t.Errorf("error %q does not give the size", err)
	}
}

func TestDuplicateSids(t *testing.T) {
	d := mustParse(t, readFixture(t, "duplicate-sids.json"))
	if got, want := d.DuplicateSids(), []string{"Same", "Other"}; !reflect.DeepEqual(got, want) {
		t.Errorf("DuplicateSids = %q, want %q", got, want)
	}
	if i, ok := d.Find("Same"); !ok || i != 0 {
		t.Errorf("Find(Same) = %d, %v, want the first one", i, ok)
	}
	if got := mustParse(t, readFixture(t, "documented.json")).DuplicateSids(); got != nil {
		t.Errorf("DuplicateSids of unique Sids = %q", got)
	}
}

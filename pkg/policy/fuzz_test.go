package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks, for any input: Parse never panics; when it succeeds,
// Marshal and MarshalCompact succeed and write valid JSON that parses back
// to an equal document whose statements' own JSON is unchanged; marshalling
// again is stable; and Evaluate never panics and decides every request the
// same on both documents. The seed corpus is every file under testdata.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.json", "testdata/bad/*"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(`{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"1"},"NotAction":"*","NotResource":"*","Condition":{"ForAllValues:NumericLessThanIfExists":{"k":[1,true,"x"]}}}}`))
	f.Add([]byte(`{"Id":"a","Id":"b","Statement":[],"\u00e9":"\ud800"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if d != nil {
				t.Fatalf("document returned with error %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Parse accepted invalid JSON %q", data)
		}
		reqs := fuzzRequests(d)
		for name, marshal := range map[string]func() ([]byte, error){"Marshal": d.Marshal, "MarshalCompact": d.MarshalCompact} {
			out, err := marshal()
			if err != nil {
				t.Fatalf("%s after Parse: %v", name, err)
			}
			if !json.Valid(out) {
				t.Fatalf("%s wrote invalid JSON: %q", name, out)
			}
			// Re-encoding may grow the text (escapes), so re-parse without
			// the size limit.
			d2, err := parseDocument(out)
			if err != nil {
				t.Fatalf("re-parse of %s output: %v\ninput:  %q\noutput: %q", name, err, data, out)
			}
			if !d.Equal(d2) {
				t.Fatalf("%s round trip changed the document\ninput:  %q\noutput: %q", name, data, out)
			}
			for i := range d.Statements {
				if !jsonEqual(d.Statements[i].Raw, d2.Statements[i].Raw) {
					t.Fatalf("statement %d changed: %q -> %q", i, d.Statements[i].Raw, d2.Statements[i].Raw)
				}
			}
			again, err := map[string]func() ([]byte, error){"Marshal": d2.Marshal, "MarshalCompact": d2.MarshalCompact}[name]()
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("%s not stable: %v\nfirst:  %q\nsecond: %q", name, err, out, again)
			}
			for _, r := range reqs {
				if a, b := d.Evaluate(r), d2.Evaluate(r); a != b {
					t.Fatalf("Evaluate(%+v) = %+v before and %+v after the round trip", r, a, b)
				}
			}
		}
	})
}

// fuzzRequests returns fixed requests plus, for each statement, one built
// from its own elements so conditions are exercised with present keys.
func fuzzRequests(d *Document) []Request {
	reqs := []Request{
		{},
		encryptRequest(trailARN, acct, keyARN),
		decryptRequest("arn:aws:iam::111111111111:root", acct, trailARN),
		decryptRequest("arn:aws:sts::111111111111:assumed-role/Admin/s", "", ""),
		{Caller: Caller{ARN: "111111111111"}, Action: "*", Resource: "*"},
	}
	for _, s := range d.Statements {
		r := Request{Context: map[string][]string{}}
		if len(s.Action) > 0 {
			r.Action = s.Action[0]
		}
		if len(s.Resource) > 0 {
			r.Resource = s.Resource[0]
		}
		if s.Principal != nil {
			for typ, vals := range s.Principal.Values {
				if len(vals) > 0 {
					if typ == "Service" {
						r.Caller.Service = vals[0]
					} else {
						r.Caller.ARN = vals[0]
					}
				}
			}
		}
		for _, keys := range s.Condition {
			for k, v := range keys {
				r.Context[k] = v
			}
		}
		reqs = append(reqs, r)
	}
	return reqs
}

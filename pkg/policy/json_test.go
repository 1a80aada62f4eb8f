package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// toAny converts a jsonValue to what encoding/json decodes with UseNumber.
func toAny(v *jsonValue) any {
	switch v.kind {
	case jsonBool:
		return v.text == "true"
	case jsonNumber:
		return json.Number(v.text)
	case jsonString:
		return v.text
	case jsonArray:
		out := make([]any, len(v.elems))
		for i := range v.elems {
			out[i] = toAny(&v.elems[i])
		}
		return out
	case jsonObject:
		out := make(map[string]any, len(v.members))
		for i := range v.members {
			out[v.members[i].name] = toAny(&v.members[i].value)
		}
		return out
	}
	return nil
}

// checkJSONAgainstStdlib fails when parseJSON and encoding/json disagree
// about data: validity, decoded value, or the value's text span.
func checkJSONAgainstStdlib(t *testing.T, data []byte) {
	t.Helper()
	v, err := parseJSON(data)
	valid := json.Valid(data)
	if (err == nil) != valid {
		t.Fatalf("parseJSON error %v, json.Valid %v, input %q", err, valid, data)
	}
	if !valid {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if got := toAny(&v); !reflect.DeepEqual(got, want) {
		t.Fatalf("input %q\nparseJSON   %#v\nencoding/json %#v", data, got, want)
	}
	if got, want := string(data[v.start:v.end]), strings.Trim(string(data), " \t\r\n"); got != want {
		t.Fatalf("span %q, want %q", got, want)
	}
}

func TestJSONReader(t *testing.T) {
	inputs := []string{
		``, ` `, `{}`, `[]`, `[ ]`, `{ }`, `null`, `true`, `false`, `nul`, `tru`, `falsey`,
		`0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `-12.5e10`, `.5`, `+1`, `1x`,
		`""`, `"a"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u2028"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`,
		`"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, `"\ud83d\uZZZZ"`, `"\x"`, `"\u12"`, "\"a\x01\"", "\"\xff\xfe\"",
		"\"caf\xc3\xa9\"", "\"\xc3\"", `"unterminated`, `"\`,
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`,
		`{1:2}`, `{"a":}`, `{"a":1,"a":2}`, `{"a":{"x":1},"a":[2]}`, `[1]]`, `{} {}`, ` {"a":[]} `,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat(`{"a":`, 50) + "1" + strings.Repeat("}", 50),
	}
	for _, in := range inputs {
		checkJSONAgainstStdlib(t, []byte(in))
	}
	v, err := parseJSON([]byte(`{"b":1,"a":2,"b":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.members) != 2 || v.members[0].name != "b" || v.members[0].value.text != "3" || v.members[1].name != "a" {
		t.Errorf("duplicate members = %+v, want b (last value) then a", v.members)
	}
}

// FuzzJSON checks parseJSON against encoding/json.
func FuzzJSON(f *testing.F) {
	for _, pattern := range []string{"testdata/*.json", "testdata/bad/*"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(`"\ud83d\ude00\ud800\u0041\xff"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJSONAgainstStdlib(t, data)
	})
}

// TestJSONErrors: the messages callers and tests look for.
func TestJSONErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, "unexpected end of JSON input"},
		{`   `, "unexpected end of JSON input"},
		{`{"Statement":[{"Effect":`, "unexpected end of JSON input"},
		{`{} {}`, "after top-level value"},
		{`{}x`, "invalid character"},
		{`{"a" 1}`, "invalid character"},
	}
	for _, tt := range tests {
		_, err := parseJSON([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseJSON(%q) error %v, want it to say %q", tt.in, err, tt.want)
		}
	}
}

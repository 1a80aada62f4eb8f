package handler

import (
	"bytes"
	"path/filepath"
	"testing"
	"text/template"
)

// ev holds the values of an event fixture in testdata.
type ev struct {
	Account, Region, EventName string
	// Trail events.
	Name, ARN, Bucket, ErrorCode string
	// Key events: KeyRef is requestParameters.keyId, ARN the resource.
	KeyRef string
}

// eventJSON renders testdata/<fixture> with e.
func eventJSON(t testing.TB, fixture string, e ev) []byte {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, e); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

package awsproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Operation names the AWS operation of a request: "Service.Operation" from
// X-Amz-Target for JSON protocols (CloudTrail, KMS, Organizations, ...),
// "Action" from a query-protocol form body (STS, SNS, EC2), and a
// "s3:<method> <what>" name for S3's REST protocol. It restores r.Body.
func Operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			return t[i+1:]
		}
		return t
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err == nil {
			if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
				return v.Get("Action")
			}
		}
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if _, service := SigningScope(r); service == "securityhub" {
		if op := securityHubOperation(r); op != "" {
			return op
		}
	}
	return s3Operation(r)
}

// securityHubOperation names the Security Hub REST operations trailguard
// calls ("" for others).
func securityHubOperation(r *http.Request) string {
	switch r.Method + " " + strings.TrimRight(r.URL.Path, "/") {
	case "GET /accounts":
		return "DescribeHub"
	case "POST /findings":
		return "GetFindings"
	case "POST /findings/import":
		return "BatchImportFindings"
	case "PATCH /findings/batchupdate":
		return "BatchUpdateFindings"
	case "POST /accounts":
		return "EnableSecurityHub"
	}
	return ""
}

func s3Operation(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case q.Has("location"):
		return "s3:GetBucketLocation"
	case q.Has("policy"):
		return "s3:" + r.Method + "BucketPolicy"
	case q.Has("encryption") && r.Method == http.MethodGet:
		return "s3:GetBucketEncryption"
	case q.Has("encryption"):
		return "s3:" + r.Method + "BucketEncryption"
	}
	path := strings.Trim(r.URL.Path, "/")
	switch {
	case path == "":
		return "s3:" + r.Method + "Service"
	case !strings.Contains(path, "/"):
		return "s3:" + r.Method + "Bucket"
	default:
		return "s3:" + r.Method + "Object"
	}
}

// SigningScope returns the Region and service name ("kms", "cloudtrail",
// "s3", ...) of a SigV4-signed request, from the credential scope of its
// Authorization header ("Credential=AKID/20250101/us-east-1/kms/aws4_request");
// both are "" for an unsigned request.
func SigningScope(r *http.Request) (region, service string) {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return "", ""
	}
	scope := auth[i+len("Credential="):]
	if j := strings.IndexAny(scope, ", "); j >= 0 {
		scope = scope[:j]
	}
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return "", ""
	}
	return parts[2], parts[3]
}

package awsproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// SecurityHubBatchUpdate returns an Answer for Security Hub's
// BatchUpdateFindings (PATCH /findings/batchupdate), which moto 5.2.1 does
// not implement. It does what the API reference documents
// (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindings.html):
// for every identified finding that exists it sets Workflow.Status and the
// Note, and answers {"ProcessedFindings": [...], "UnprocessedFindings":
// [...]} (a finding that does not exist is unprocessed with
// "FindingNotFound"). The change is made in target (moto) by reading the
// findings there and importing them back with the new Workflow and Note,
// signed as the caller (moto reads the account and Region from the
// request's credential scope). Other calls are not handled.
func SecurityHubBatchUpdate(target string) func(Call) (int, []byte, bool) {
	client := &http.Client{Timeout: 10 * time.Second}
	return func(c Call) (int, []byte, bool) {
		if c.Method != http.MethodPatch || strings.TrimRight(c.Path, "/") != "/findings/batchupdate" {
			return 0, nil, false
		}
		var in struct {
			FindingIdentifiers []struct{ Id, ProductArn string }
			Workflow           *struct{ Status string }
			Note               *struct{ Text, UpdatedBy string }
		}
		if err := json.Unmarshal(c.Body, &in); err != nil {
			return http.StatusBadRequest, jsonError("InvalidInputException", err.Error()), true
		}
		call := func(path string, body any) ([]byte, error) {
			b, err := json.Marshal(body)
			if err != nil {
				return nil, err
			}
			req, err := http.NewRequest(http.MethodPost, strings.TrimRight(target, "/")+path, bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
				if v := c.Header.Get(h); v != "" {
					req.Header.Set(h, v)
				}
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			out, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, out)
			}
			return out, err
		}
		var all struct{ Findings []map[string]any }
		for token := ""; ; {
			req := map[string]any{}
			if token != "" {
				req["NextToken"] = token
			}
			raw, err := call("/findings", req)
			if err != nil {
				return http.StatusInternalServerError, jsonError("InternalException", err.Error()), true
			}
			var page struct {
				Findings  []map[string]any
				NextToken string
			}
			if err := json.Unmarshal(raw, &page); err != nil {
				return http.StatusInternalServerError, jsonError("InternalException", err.Error()), true
			}
			all.Findings = append(all.Findings, page.Findings...)
			if token = page.NextToken; token == "" {
				break
			}
		}
		type ident struct{ Id, ProductArn string }
		type unprocessed struct {
			FindingIdentifier       ident
			ErrorCode, ErrorMessage string
		}
		var (
			processed []ident
			missing   []unprocessed
			updates   []map[string]any
		)
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for _, id := range in.FindingIdentifiers {
			var found map[string]any
			for _, f := range all.Findings {
				if f["Id"] == id.Id && f["ProductArn"] == id.ProductArn {
					found = f
				}
			}
			if found == nil {
				missing = append(missing, unprocessed{ident(id), "FindingNotFound", "finding not found"})
				continue
			}
			if in.Workflow != nil {
				found["Workflow"] = map[string]any{"Status": in.Workflow.Status}
			}
			if in.Note != nil {
				found["Note"] = map[string]any{"Text": in.Note.Text, "UpdatedBy": in.Note.UpdatedBy, "UpdatedAt": now}
			}
			updates = append(updates, found)
			processed = append(processed, ident(id))
		}
		if len(updates) > 0 {
			if _, err := call("/findings/import", map[string]any{"Findings": updates}); err != nil {
				return http.StatusInternalServerError, jsonError("InternalException", err.Error()), true
			}
		}
		if processed == nil {
			processed = []ident{}
		}
		if missing == nil {
			missing = []unprocessed{}
		}
		out, _ := json.Marshal(map[string]any{"ProcessedFindings": processed, "UnprocessedFindings": missing})
		return http.StatusOK, out, true
	}
}

func jsonError(code, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	return b
}

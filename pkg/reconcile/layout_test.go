package reconcile

import (
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// writeOps are the fake's operations that change something.
var fakeWrites = []string{opPutKeyPolicy, opUpdateTrail, "TrentService.EnableKey", "TrentService.CancelKeyDeletion",
	"TrentService.EnableKeyRotation", "CloudTrail_20131101.StartLogging"}

func (f *fakeAWS) writes() []string {
	var out []string
	for _, op := range f.recorded() {
		if slices.Contains(fakeWrites, op) {
			out = append(out, op)
		}
	}
	return out
}

// TestDeniedReadsAreUnverifiable (issue 11, case 2): AccessDenied on a read
// of the trail's key or status means "cannot verify": a finding and an
// alert, never a write. Before, a denied DescribeKey was trail-key-missing
// and the trail was switched to the baseline key.
func TestDeniedReadsAreUnverifiable(t *testing.T) {
	tests := []struct {
		name string
		op   string
		rule compliance.Rule
		// noWrite are writes that must not happen (nil: none at all).
		noWrite []string
	}{
		{"DescribeKey denied", opDescribeKey, compliance.KeyUnverifiable, nil},
		{"GetKeyPolicy denied", opGetKeyPolicy, compliance.KeyUnverifiable, nil},
		{"GetTrailStatus denied", "CloudTrail_20131101.GetTrailStatus", compliance.TrailUnverifiable, []string{"CloudTrail_20131101.StartLogging", opUpdateTrail}},
		// The policy is readable and gets fixed; rotation is not enabled
		// on a denied read.
		{"GetKeyRotationStatus denied", "TrentService.GetKeyRotationStatus", compliance.KeyUnverifiable, []string{"TrentService.EnableKeyRotation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t)
			f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount))
			trail := f.addTrail("keyed", trailKeyARN)
			f.fail(tt.op, fault{Code: "AccessDeniedException", Status: 400})
			cfg := fakeConfig()
			cfg.RequireRotation = true
			cfg.StartLogging = true
			rep, err := f.reconciler(cfg).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
			if err != nil {
				t.Fatalf("a denied read is terminal: %v", err)
			}
			res := onlyResult(t, rep)
			if !hasRule(res.Findings, tt.rule) {
				t.Fatalf("findings %+v, want %s", res.Findings, tt.rule)
			}
			if hasRule(res.Findings, compliance.TrailKeyMissing) {
				t.Errorf("a denied read was reported as a missing key: %+v", res.Findings)
			}
			for _, fd := range res.Findings {
				if fd.Rule == tt.rule && (fd.Actionable || !strings.Contains(fd.Detail, "AccessDeniedException") && (tt.rule != compliance.KeyUnverifiable || tt.op == opDescribeKey)) {
					t.Errorf("finding %+v: want not actionable, naming the denial", fd)
				}
			}
			for _, w := range f.writes() {
				if tt.noWrite == nil || slices.Contains(tt.noWrite, w) {
					t.Errorf("wrote %s on a denied read (writes %v)", w, f.writes())
				}
			}
			if got := f.trails["keyed"].KmsKeyID; got != trailKeyARN {
				t.Errorf("trail moved to %s", got)
			}
			if !res.Alerting() {
				t.Errorf("a denied read must alert: %+v", res)
			}
		})
	}
}

// TestLogArchiveBucketRegionFromHeadBucket (issue 11, case 1): the bucket is
// another account's (a log-archive bucket): GetBucketLocation is denied,
// HeadBucket answers 403 but names the Region in x-amz-bucket-region (S3
// API reference, HeadBucket:
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html;
// GetBucketLocation: "cross-account access won't be authorized",
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html).
// The unencrypted trail is encrypted under the baseline key of that Region.
// Before, observe returned a terminal error on every run.
func TestLogArchiveBucketRegionFromHeadBucket(t *testing.T) {
	f := newFakeAWS(t)
	euKey := "arn:aws:kms:eu-west-1:" + fakeAccount + ":key/0000dddd-0000-4000-8000-000000000004"
	f.addKey(euKey, "0000dddd-0000-4000-8000-000000000004", rootPolicy(fakeAccount))
	trail := f.addTrail("plain", "")
	f.fail("s3:GetBucketLocation", fault{Code: "AccessDenied", Status: 403})
	f.fail("s3:HeadBucket", fault{Code: "AccessDenied", Status: 403, Header: map[string]string{"X-Amz-Bucket-Region": "eu-west-1"}})
	f.fail("s3:GetBucketEncryption", fault{Code: "AccessDenied", Status: 403})
	cfg := fakeConfig()
	cfg.Keys = map[string]string{"eu-west-1": euKey}
	rep, err := f.reconciler(cfg).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
	if err != nil {
		t.Fatal(err)
	}
	res := onlyResult(t, rep)
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v (error %q)", got, want, res.Error)
	}
	if got := f.trails["plain"].KmsKeyID; got != euKey {
		t.Errorf("trail key %s, want the eu-west-1 baseline %s", got, euKey)
	}
	// The bucket's encryption could not be read: CloudTrail's Bucket Key
	// Decrypt was granted on the key the trail moved to.
	if statement(t, f.keys[euKey].Policy, compliance.SidCloudTrailBucketKeyDecrypt) == nil {
		t.Errorf("baseline policy lacks %s:\n%s", compliance.SidCloudTrailBucketKeyDecrypt, f.keys[euKey].Policy)
	}
	if f.signedHeads != 0 {
		t.Errorf("HeadBucket was signed")
	}
}

// TestBucketRegionUnknown: neither HeadBucket nor GetBucketLocation names
// the Region: trail-unverifiable, an alert, and no write.
func TestBucketRegionUnknown(t *testing.T) {
	f := newFakeAWS(t)
	trail := f.addTrail("plain", "")
	f.fail("s3:GetBucketLocation", fault{Code: "AccessDenied", Status: 403})
	f.fail("s3:HeadBucket", fault{Code: "AccessDenied", Status: 403})
	rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
	if err != nil {
		t.Fatalf("terminal, not transient: %v", err)
	}
	res := onlyResult(t, rep)
	if !hasRule(res.Findings, compliance.TrailUnverifiable) || !res.Alerting() {
		t.Errorf("result %+v, want trail-unverifiable and an alert", res)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("wrote without knowing the bucket's Region: %v", w)
	}
}

// TestBucketKeyDecrypt (issue 11, case 3): the bucket uses an S3 Bucket Key
// (GetBucketEncryption BucketKeyEnabled): CloudTrail's kms:Decrypt is added
// to the trail's key, and the reader checks use the bucket ARN as
// encryption context.
func TestBucketKeyDecrypt(t *testing.T) {
	f := newFakeAWS(t)
	f.bucketKey = true
	trail := f.addTrail("plain", "")
	rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outcomes(onlyResult(t, rep)), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	st := statement(t, f.keys[baseKeyARN].Policy, compliance.SidCloudTrailBucketKeyDecrypt)
	if st == nil || st["Action"] != "kms:Decrypt" && !slices.Contains(anyStrings(st["Action"]), "kms:Decrypt") {
		t.Fatalf("bucket key statement %v in:\n%s", st, f.keys[baseKeyARN].Policy)
	}
	// A second run is quiet: the statement counts as granted.
	rep, err = f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
	if err != nil {
		t.Fatal(err)
	}
	if res := onlyResult(t, rep); len(res.Findings) != 0 || len(res.Actions) != 0 {
		t.Errorf("second run: %+v", res)
	}
	// Without a Bucket Key no such statement is written.
	g := newFakeAWS(t)
	trail = g.addTrail("plain", "")
	if _, err := g.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail); err != nil {
		t.Fatal(err)
	}
	if statement(t, g.keys[baseKeyARN].Policy, compliance.SidCloudTrailBucketKeyDecrypt) != nil {
		t.Errorf("Bucket Key statement written for a bucket without one")
	}
}

func anyStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestTrailNotLogging (issue 11, case 5): a trail that is not logging is
// trail-not-logging; the account and Region then have no logging trail,
// which is a report-level alert. StartLogging is opt-in.
func TestTrailNotLogging(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		name := map[bool]string{false: "alert only", true: "StartLogging opted in"}[optIn]
		t.Run(name, func(t *testing.T) {
			f := newFakeAWS(t)
			f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount))
			trail := f.addTrail("quiet", "")
			f.trails["quiet"].NotLogging = true
			cfg := fakeConfig()
			cfg.StartLogging = optIn
			rep, err := f.reconciler(cfg).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
			if err != nil {
				t.Fatal(err)
			}
			res := onlyResult(t, rep)
			if !hasRule(res.Findings, compliance.TrailNotLogging) {
				t.Fatalf("findings %+v", res.Findings)
			}
			started := slices.Contains(outcomes(res), "StartLogging=updated")
			if started != optIn || f.trails["quiet"].NotLogging == optIn {
				t.Errorf("StartLogging done=%v, trail logging=%v; want %v (outcomes %v)", started, !f.trails["quiet"].NotLogging, optIn, outcomes(res))
			}
			blind := slices.ContainsFunc(rep.Alerts, func(a string) bool { return strings.Contains(a, "no trail is logging") })
			if blind == optIn {
				t.Errorf("report alerts %v: want a no-logging-trail alert only when the trail was left stopped", rep.Alerts)
			}
		})
	}
}

// TestDeletedTrailLeavesRegionBlind: after DeleteTrail (the trail no longer
// exists) the Region is checked for a logging trail.
func TestDeletedTrailLeavesRegionBlind(t *testing.T) {
	tests := []struct {
		name       string
		otherLogs  bool
		wantAlerts int
	}{
		{"another trail still logs", true, 0},
		{"no trail logs any more", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t)
			f.addTrail("other", "")
			f.trails["other"].NotLogging = !tt.otherLogs
			rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, fakeTrailARN("deleted"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Alerts) != tt.wantAlerts {
				t.Errorf("alerts %v, want %d", rep.Alerts, tt.wantAlerts)
			}
			if tt.wantAlerts > 0 && !rep.Alerting() {
				t.Errorf("report with a blind Region is not alerting")
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("writes %v", w)
			}
		})
	}
}

// TestSweepAlertsBlindRegions: the sweep names every Region without a
// logging trail.
func TestSweepAlertsBlindRegions(t *testing.T) {
	f := newFakeAWS(t)
	f.addTrail("quiet", "")
	f.trails["quiet"].NotLogging = true
	cfg := fakeConfig()
	cfg.Mode = "report"
	rep, err := f.reconciler(cfg).Sweep(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Alerts) != 1 || !strings.Contains(rep.Alerts[0], "Region "+fakeRegion) {
		t.Errorf("alerts %v, want one for %s", rep.Alerts, fakeRegion)
	}
	f.trails["quiet"].NotLogging = false
	rep, err = f.reconciler(cfg).Sweep(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Alerts) != 0 {
		t.Errorf("alerts %v with a logging trail", rep.Alerts)
	}
}

package stacksim_test

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/securityhub"
	"github.com/trailguard/trailguard/pkg/state"
)

// noPermission are calls that need no IAM permission: the own identity,
// and the unsigned HeadBucket that finds a bucket's Region
// (manager.GetBucketRegion).
var noPermission = []string{"sts:GetCallerIdentity", "unsigned:s3:HEADBucket", "s3:HeadBucket"}

// s3Actions are the IAM actions of operations whose names differ: S3's,
// and DynamoDB's TransactWriteItems, which needs the permission of each
// action inside it (state.Store.Admit's are Puts:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
var s3Actions = map[string]string{"s3:GetBucketEncryption": "s3:GetEncryptionConfiguration", "dynamodb:TransactWriteItems": "dynamodb:PutItem"}

// notExercised are granted actions this run does not make, each covered
// elsewhere: StartLogging is opt-in (pkg/reconcile TestTrailNotLogging);
// DescribeOrganization is read for organization trails only (pkg/reconcile
// TestMotoOrganizationTrailLogPath); the dependency permissions are checked
// by CloudTrail, not called by trailguard (plan.DependencyPermissions);
// GetBucketLocation is the fallback when HeadBucket names no Region, which
// moto always does (pkg/reconcile TestBucketRegionUnknown).
var notExercised = append([]string{"cloudtrail:StartLogging", "organizations:DescribeOrganization", "s3:GetBucketLocation"}, plan.DependencyPermissions()...)

// iamAction names the IAM action a call needs: the signing service and
// the operation ("kms:PutKeyPolicy", "s3:GetBucketLocation"); an unsigned
// call is "unsigned:" and its operation.
func iamAction(c awsproxy.Call) string {
	if c.Service == "" {
		return "unsigned:" + c.Operation
	}
	a := c.Service + ":" + strings.TrimPrefix(c.Operation, "s3:")
	if m, ok := s3Actions[c.Operation]; ok {
		return m
	}
	if m, ok := s3Actions[a]; ok {
		return m
	}
	return a
}

// deployedActions are the IAM actions the deployed functions hold in
// account mode: infra builds the policy from exactly these (its tests,
// TestIAMActionsEqualPlan, hold the synthesized template to them).
func deployedActions() []string {
	var out []string
	for _, k := range plan.Kinds() {
		out = append(out, k.Permissions()...)
	}
	out = append(out, plan.ReadPermissions()...)
	out = append(out, state.Permissions...) // the state table
	out = append(out, plan.DependencyPermissions()...)
	sort.Strings(out)
	return slices.Compact(out)
}

// TestDeployedPermissionsAreExactlyWhatTheCodeCalls (issue 7, item 6)
// runs every kind of fix, event-driven and swept, with notices on, and
// records each AWS call trailguard makes. Every call must be covered by the
// deployed policy (no AccessDenied in production), and every permission
// of the deployed policy must have been used (nothing granted that the
// code does not need). The organization permissions (sts:AssumeRole,
// organizations:ListAccounts) exist only in organization mode and are not
// exercised here.
func TestDeployedPermissionsAreExactlyWhatTheCodeCalls(t *testing.T) {
	h := newHarness(t, harnessOptions{securityHub: true, cfg: func(c *config.Config) {
		c.TopicARN = "arn:aws:sns:us-east-1:123456789012:" + topicName
		c.RequireRotation = true
		c.Regions = nil // the sweep lists the enabled Regions
	}})
	var mu sync.Mutex
	called := map[string]int{}
	h.afterHook = func(c awsproxy.Call) {
		mu.Lock()
		called[iamAction(c)]++
		mu.Unlock()
	}
	h.topic(topicName)
	h.baseline()
	h.bucket("perm-logs")
	_, plain := h.trail("plain", "perm-logs", "")
	gapKey := h.key(basePolicy())
	_, gap := h.trail("gap", "perm-logs", gapKey)
	disKey := h.key(basePolicy())
	_, dis := h.trail("disabled", "perm-logs", disKey)
	delKey := h.key(basePolicy())
	_, del := h.trail("deleting", "perm-logs", delKey)
	h.run(plain, gap, h.putPolicy(gapKey, basePolicy()), dis, h.disable(disKey), del, h.scheduleDeletion(delKey))
	h.sweep()

	deployed := deployedActions()
	mu.Lock()
	defer mu.Unlock()
	for action := range called {
		if !slices.Contains(deployed, action) && !slices.Contains(noPermission, action) {
			t.Errorf("trailguard calls %s, which the deployed policy does not grant (AccessDenied in AWS)", action)
		}
	}
	for _, action := range deployed {
		if called[action] == 0 && !slices.Contains(notExercised, action) {
			t.Errorf("the deployed policy grants %s, which no run used: least privilege says drop it, or a test is missing", action)
		}
	}
	for _, fs := range h.findings() {
		if len(fs) > 0 {
			t.Errorf("not compliant after the run: %+v", fs)
		}
	}
	h.checkInvariants()
	t.Logf("calls by IAM action: %v", called)
}

// TestPermissionsMatchTheAPIInterfaces (issue 7, item 6), statically: the
// narrow SDK interfaces of pkg/reconcile list every AWS operation the code
// can call. Each must be granted (organization mode included), and each
// granted action must be one of them.
func TestPermissionsMatchTheAPIInterfaces(t *testing.T) {
	ifaces := map[string]reflect.Type{
		"cloudtrail":    reflect.TypeOf((*reconcile.CloudTrailAPI)(nil)).Elem(),
		"kms":           reflect.TypeOf((*reconcile.KMSAPI)(nil)).Elem(),
		"s3":            reflect.TypeOf((*reconcile.S3API)(nil)).Elem(),
		"sns":           reflect.TypeOf((*reconcile.SNSAPI)(nil)).Elem(),
		"ec2":           reflect.TypeOf((*reconcile.EC2API)(nil)).Elem(),
		"sts":           reflect.TypeOf((*reconcile.STSAPI)(nil)).Elem(),
		"organizations": reflect.TypeOf((*reconcile.OrganizationsAPI)(nil)).Elem(),
		"dynamodb":      reflect.TypeOf((*state.DynamoDBAPI)(nil)).Elem(),
		"securityhub":   reflect.TypeOf((*securityhub.API)(nil)).Elem(),
	}
	var callable []string
	for svc, typ := range ifaces {
		for i := range typ.NumMethod() {
			a := svc + ":" + typ.Method(i).Name
			if m, ok := s3Actions[a]; ok {
				a = m
			}
			callable = append(callable, a)
		}
	}
	granted := append(deployedActions(), plan.OrganizationPermissions()...)
	// dynamodb:Query lists the change log for `trailguard history`: an
	// operator's permission, no function's.
	granted = append(granted, state.OperatorPermissions...)
	for _, a := range callable {
		if !slices.Contains(granted, a) && !slices.Contains(noPermission, a) {
			t.Errorf("the code can call %s, which is not granted", a)
		}
	}
	for _, a := range granted {
		if !slices.Contains(callable, a) && !slices.Contains(plan.DependencyPermissions(), a) {
			t.Errorf("%s is granted, but no interface of pkg/reconcile can call it", a)
		}
	}
	if len(callable) < 15 {
		t.Fatalf("only %d callable operations found: %v", len(callable), callable)
	}
}

package policy

import (
	"fmt"
	"testing"
)

const (
	acct       = "111111111111"
	trailARN   = "arn:aws:cloudtrail:us-east-2:111111111111:trail/TrailName"
	keyARN     = "arn:aws:kms:us-east-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	cloudtrail = "cloudtrail.amazonaws.com"
)

// encryptRequest is the GenerateDataKey call CloudTrail makes to deliver a
// log file of trail (owned by account) with the key.
func encryptRequest(trail, account, key string) Request {
	return Request{
		Caller:   Caller{Service: cloudtrail},
		Action:   "kms:GenerateDataKey",
		Resource: key,
		Context: map[string][]string{
			"kms:EncryptionContext:aws:cloudtrail:arn": {trail},
			"kms:EncryptionContext:aws:s3:arn":         {"arn:aws:s3:::logs-bucket/AWSLogs/" + account + "/CloudTrail/us-east-2/2024/01/01/file.json.gz"},
			"aws:SourceArn":                            {trail},
			"aws:SourceAccount":                        {account},
		},
	}
}

func describeRequest(trail string) Request {
	r := Request{Caller: Caller{Service: cloudtrail}, Action: "kms:DescribeKey", Resource: keyARN}
	if trail != "" {
		r.Context = map[string][]string{"aws:SourceArn": {trail}, "aws:SourceAccount": {acct}}
	}
	return r
}

// decryptRequest is an S3 GET of a log file of trail by caller, with
// kms:CallerAccount set when callerAccount is not empty.
func decryptRequest(caller, callerAccount, trail string) Request {
	ctx := map[string][]string{}
	if trail != "" {
		ctx["kms:EncryptionContext:aws:cloudtrail:arn"] = []string{trail}
		ctx["kms:EncryptionContext:aws:s3:arn"] = []string{"arn:aws:s3:::logs-bucket/AWSLogs/x.json.gz"}
		ctx["kms:ViaService"] = []string{"s3.us-east-2.amazonaws.com"}
	}
	if callerAccount != "" {
		ctx["kms:CallerAccount"] = []string{callerAccount}
	}
	return Request{Caller: Caller{ARN: caller}, Action: "kms:Decrypt", Resource: keyARN, Context: ctx}
}

func with(r Request, f func(*Request)) Request {
	ctx := make(map[string][]string, len(r.Context))
	for k, v := range r.Context {
		ctx[k] = v
	}
	r.Context = ctx
	f(&r)
	return r
}

type evalCase struct {
	name string
	req  Request
	want Decision
}

func runEvalCases(t *testing.T, d *Document, tests []evalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.Evaluate(tt.req)
			if got.Uncertain != (got.Reason != "") {
				t.Errorf("Evaluate = %+v: Reason must be set exactly when Uncertain", got)
			}
			if tt.want.Reason == "" {
				got.Reason = "" // compared only when the case names one
			}
			if got != tt.want {
				t.Errorf("Evaluate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func allowed(sid string) Decision { return Decision{Effect: Allowed, Statement: sid} }
func denied(sid string) Decision  { return Decision{Effect: ExplicitDeny, Statement: sid} }
func maybeDenied(sid string) Decision {
	return Decision{Effect: ExplicitDeny, Statement: sid, Uncertain: true}
}

// maybeAllowed is an ImplicitDeny because the Allow sid could not be decided.
func maybeAllowed(sid string) Decision {
	return Decision{Effect: ImplicitDeny, Statement: sid, Uncertain: true}
}

var implicit = Decision{Effect: ImplicitDeny}

func TestEvaluateDocumentedStatements(t *testing.T) {
	d := mustParse(t, readFixture(t, "documented.json"))
	const (
		encrypt  = "Allow CloudTrail to encrypt logs"
		describe = "Allow CloudTrail access"
		reader   = "Enable CloudTrail log decrypt permissions"
		console  = "Allow principals in the account to decrypt log files"
		root     = "Enable IAM User Permissions"
	)
	otherTrail := "arn:aws:cloudtrail:us-east-2:111111111111:trail/Other"
	foreignTrail := "arn:aws:cloudtrail:us-east-2:222222222222:trail/TrailName"
	runEvalCases(t, d, []evalCase{
		{"encrypt: the trail", encryptRequest(trailARN, acct, keyARN), allowed(encrypt)},
		{"encrypt: GenerateDataKey* covers WithoutPlaintext", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) { r.Action = "kms:GenerateDataKeyWithoutPlaintext" }), allowed(encrypt)},
		{"encrypt: action case ignored", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) { r.Action = "KMS:generatedatakey" }), allowed(encrypt)},
		{"encrypt: condition key case ignored", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) {
			r.Context = map[string][]string{"AWS:SOURCEARN": {trailARN}, "KMS:ENCRYPTIONCONTEXT:AWS:CLOUDTRAIL:ARN": {trailARN}}
		}), allowed(encrypt)},
		{"encrypt: wrong trail ARN", encryptRequest(otherTrail, acct, keyARN), implicit},
		{"encrypt: trail in another account", encryptRequest(foreignTrail, "222222222222", keyARN), implicit},
		{"encrypt: source ARN value case matters", encryptRequest("arn:aws:cloudtrail:us-east-2:111111111111:trail/trailname", acct, keyARN), implicit},
		{"encrypt: no context", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) { r.Context = nil }), implicit},
		{"encrypt: no encryption context", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) {
			delete(r.Context, "kms:EncryptionContext:aws:cloudtrail:arn")
		}), implicit},
		{"encrypt: no source ARN", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) { delete(r.Context, "aws:SourceArn") }), implicit},
		{"encrypt: not CloudTrail", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) { r.Caller = Caller{Service: "s3.amazonaws.com"} }), implicit},
		{"encrypt: CloudTrail may not decrypt", with(encryptRequest(trailARN, acct, keyARN), func(r *Request) { r.Action = "kms:Decrypt" }), implicit},

		{"describe: the trail", describeRequest(trailARN), allowed(describe)},
		{"describe: wrong trail", describeRequest(otherTrail), implicit},
		{"describe: no source ARN", describeRequest(""), implicit},

		{"reader: Bob decrypts a log file", decryptRequest("arn:aws:iam::111111111111:user/Bob", "", trailARN), allowed(reader)},
		{"reader: Bob without encryption context", decryptRequest("arn:aws:iam::111111111111:user/Bob", "", ""), implicit},
		{"reader: Bob may not encrypt", with(decryptRequest("arn:aws:iam::111111111111:user/Bob", "", trailARN), func(r *Request) { r.Action = "kms:Encrypt" }), implicit},
		{"reader: user name case matters", decryptRequest("arn:aws:iam::111111111111:user/bob", "", trailARN), implicit},
		{"reader: Bob in another account", decryptRequest("arn:aws:iam::222222222222:user/Bob", "", trailARN), implicit},

		{"console: account principal decrypts", decryptRequest("arn:aws:iam::111111111111:user/Alice", acct, trailARN), allowed(console)},
		{"console: ReEncryptFrom", with(decryptRequest("arn:aws:iam::111111111111:user/Alice", acct, trailARN), func(r *Request) { r.Action = "kms:ReEncryptFrom" }), allowed(console)},
		{"console: wrong caller account", decryptRequest("arn:aws:iam::222222222222:user/Alice", "222222222222", trailARN), implicit},
		{"console: caller account missing", decryptRequest("arn:aws:iam::111111111111:user/Alice", "", trailARN), implicit},
		{"console: log of another account's trail", decryptRequest("arn:aws:iam::111111111111:user/Alice", acct, foreignTrail), implicit},
		{"console: no encryption context", decryptRequest("arn:aws:iam::111111111111:user/Alice", acct, ""), implicit},
		{"console: the service has no caller account", with(decryptRequest("", "", trailARN), func(r *Request) { r.Caller = Caller{Service: cloudtrail} }), implicit},

		{"root: the account root", decryptRequest("arn:aws:iam::111111111111:root", "", ""), allowed(root)},
		{"root: schedules deletion", with(decryptRequest("arn:aws:iam::111111111111:root", "", ""), func(r *Request) { r.Action = "kms:ScheduleKeyDeletion" }), allowed(root)},
		{"root: another account's root", decryptRequest("arn:aws:iam::222222222222:root", "", ""), implicit},
		{"root: another partition's root", decryptRequest("arn:aws-cn:iam::111111111111:root", "", ""), implicit},
		{"root: does not cover IAM users", with(decryptRequest("arn:aws:iam::111111111111:user/Carol", "", ""), func(r *Request) { r.Action = "kms:Encrypt" }), implicit},
	})
}

func TestEvaluateConsoleDefault(t *testing.T) {
	d := mustParse(t, readFixture(t, "console-default.json"))
	trail := "arn:aws:cloudtrail:us-east-1:111111111111:trail/management-events"
	runEvalCases(t, d, []evalCase{
		{"encrypt", encryptRequest(trail, acct, keyARN), allowed("Allow CloudTrail to encrypt logs")},
		{"encrypt other trail", encryptRequest(trailARN, acct, keyARN), implicit},
		{"describe without condition", describeRequest(""), allowed("Allow CloudTrail to describe key")},
		{"Alice is listed", with(decryptRequest("arn:aws:iam::111111111111:user/Alice", "", ""), func(r *Request) { r.Action = "kms:PutKeyPolicy" }), allowed("Enable IAM User Permissions")},
		{"account reader", decryptRequest("arn:aws:iam::111111111111:role/Auditor", acct, trail), allowed("Allow principals in the account to decrypt log files")},
		{"create alias via EC2", Request{Caller: Caller{ARN: "arn:aws:iam::111111111111:user/Dan"}, Action: "kms:CreateAlias", Resource: keyARN,
			Context: map[string][]string{"kms:CallerAccount": {acct}, "kms:ViaService": {"ec2.us-east-1.amazonaws.com"}}}, allowed("Allow alias creation during setup")},
		{"create alias directly", Request{Caller: Caller{ARN: "arn:aws:iam::111111111111:user/Dan"}, Action: "kms:CreateAlias", Resource: keyARN,
			Context: map[string][]string{"kms:CallerAccount": {acct}}}, implicit},
	})
}

func TestEvaluatePrincipals(t *testing.T) {
	callers := map[string]Caller{
		"service":       {Service: cloudtrail},
		"other service": {Service: "s3.amazonaws.com"},
		"root":          {ARN: "arn:aws:iam::111122223333:root"},
		"root bare id":  {ARN: "111122223333"},
		"cn root":       {ARN: "arn:aws-cn:iam::111122223333:root"},
		"other root":    {ARN: "arn:aws:iam::444455556666:root"},
		"user":          {ARN: "arn:aws:iam::111122223333:user/Bob"},
		"role session":  {ARN: "arn:aws:sts::111122223333:assumed-role/Admin/alice"},
		"other session": {ARN: "arn:aws:sts::111122223333:assumed-role/AdminX/alice"},
		"cn session":    {ARN: "arn:aws-cn:sts::111122223333:assumed-role/Admin/alice"},
		"anonymous":     {},
	}
	tests := []struct {
		principal string
		match     []string // callers that match; all others must not
		viaRole   []string // of those, the ones matched only as a session of a listed role
	}{
		{`"*"`, []string{"service", "other service", "root", "root bare id", "cn root", "other root", "user", "role session", "other session", "cn session", "anonymous"}, nil},
		{`{"AWS":"*"}`, []string{"service", "other service", "root", "root bare id", "cn root", "other root", "user", "role session", "other session", "cn session", "anonymous"}, nil},
		{`{"Service":"cloudtrail.amazonaws.com"}`, []string{"service"}, nil},
		{`{"Service":["s3.amazonaws.com","cloudtrail.amazonaws.com"]}`, []string{"service", "other service"}, nil},
		{`{"AWS":"111122223333"}`, []string{"root", "root bare id", "cn root"}, nil},
		{`{"AWS":"arn:aws:iam::111122223333:root"}`, []string{"root", "root bare id"}, nil},
		{`{"AWS":"arn:aws-cn:iam::111122223333:root"}`, []string{"cn root", "root bare id"}, nil},
		{`{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::111122223333:user/Bob"]}`, []string{"other root", "user"}, nil},
		{`{"AWS":"arn:aws:iam::111122223333:user/bob"}`, nil, nil},
		{`{"AWS":"arn:aws:iam::111122223333:role/Admin"}`, []string{"role session"}, []string{"role session"}},
		{`{"AWS":"arn:aws:iam::111122223333:role/team/ops/Admin"}`, []string{"role session"}, []string{"role session"}},
		{`{"AWS":"arn:aws-cn:iam::111122223333:role/Admin"}`, []string{"cn session"}, []string{"cn session"}},
		{`{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin/alice"}`, []string{"role session"}, nil},
		{`{"AWS":"arn:aws:iam::111122223333:role/Adm"}`, nil, nil},
		{`{"AWS":"not-an-arn"}`, nil, nil},
		{`{"Federated":"cognito-identity.amazonaws.com","CanonicalUser":"abc"}`, nil, nil},
		{`{}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.principal, func(t *testing.T) {
			d := mustParse(t, []byte(`{"Statement":[{"Sid":"P","Effect":"Allow","Principal":`+tt.principal+`,"Action":"kms:Decrypt","Resource":"*"}]}`))
			dn := mustParse(t, []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Sid":"N","Effect":"Deny","NotPrincipal":`+tt.principal+`,"Action":"kms:Decrypt","Resource":"*"}]}`))
			match, viaRole := map[string]bool{}, map[string]bool{}
			for _, c := range tt.match {
				match[c] = true
			}
			for _, c := range tt.viaRole {
				viaRole[c] = true
			}
			for name, c := range callers {
				r := Request{Caller: c, Action: "kms:Decrypt", Resource: keyARN}
				if got := d.Evaluate(r).Allowed(); got != match[name] {
					t.Errorf("Principal %s, caller %s: allowed = %v, want %v", tt.principal, name, got, match[name])
				}
				// NotPrincipal denies exactly the callers it does not list;
				// listing a role does not exclude its sessions (as in AWS).
				wantDeny := !match[name] || viaRole[name]
				if got := dn.Evaluate(r).Effect == ExplicitDeny; got != wantDeny {
					t.Errorf("NotPrincipal %s, caller %s: denied = %v, want %v", tt.principal, name, got, wantDeny)
				}
			}
		})
	}
}

func TestEvaluateNotElements(t *testing.T) {
	d := mustParse(t, []byte(`{"Statement":[
		{"Sid":"AllButDelete","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/Admin"},"NotAction":["kms:ScheduleKeyDeletion","kms:Delete*"],"Resource":"*"},
		{"Sid":"DenyOtherKeys","Effect":"Deny","Principal":"*","Action":"kms:*","NotResource":["arn:aws:kms:*:111111111111:key/1234abcd-*","arn:aws:kms:us-east-2:111111111111:alias/?ogs"]}
	]}`))
	admin := Caller{ARN: "arn:aws:sts::111111111111:assumed-role/Admin/s"}
	req := func(action, resource string) Request {
		return Request{Caller: admin, Action: action, Resource: resource}
	}
	runEvalCases(t, d, []evalCase{
		{"NotAction lets other actions through", req("kms:Decrypt", keyARN), allowed("AllButDelete")},
		{"NotAction excludes listed action", req("kms:ScheduleKeyDeletion", keyARN), implicit},
		{"NotAction wildcard ignores case", req("KMS:deleteAlias", keyARN), implicit},
		{"NotResource excludes matching key", req("kms:Encrypt", keyARN), allowed("AllButDelete")},
		{"NotResource ? wildcard", req("kms:Encrypt", "arn:aws:kms:us-east-2:111111111111:alias/logs"), allowed("AllButDelete")},
		{"NotResource denies other keys", req("kms:Encrypt", "arn:aws:kms:us-east-2:111111111111:key/ffff"), denied("DenyOtherKeys")},
		{"NotResource is case-sensitive", req("kms:Encrypt", "arn:aws:kms:us-east-2:111111111111:KEY/1234abcd-x"), denied("DenyOtherKeys")},
	})
}

func TestEvaluateResourcePatterns(t *testing.T) {
	tests := []struct {
		resource string
		match    bool
	}{
		{`"*"`, true},
		{`"arn:aws:kms:us-east-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"`, true},
		{`"arn:aws:kms:*:111111111111:key/*"`, true},
		{`["arn:aws:kms:us-east-1:111111111111:key/*","arn:aws:kms:us-east-2:111111111111:key/????????-*"]`, true},
		{`"arn:aws:kms:us-east-2:111111111111:key/1234ABCD-*"`, false},
		{`"arn:aws:kms:us-east-2:222222222222:key/*"`, false},
		{`"arn:aws-cn:kms:*:111111111111:key/*"`, false},
		{`[]`, false},
	}
	for _, tt := range tests {
		d := mustParse(t, []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":`+tt.resource+`}]}`))
		if got := d.Evaluate(Request{Caller: Caller{Service: cloudtrail}, Action: "kms:Decrypt", Resource: keyARN}).Allowed(); got != tt.match {
			t.Errorf("Resource %s: allowed = %v, want %v", tt.resource, got, tt.match)
		}
	}
}

func TestEvaluateDeny(t *testing.T) {
	d := mustParse(t, readFixture(t, "deny-cloudtrail.json"))
	enc := encryptRequest(trailARN, acct, keyARN)
	inOrg := func(org string) func(*Request) {
		return func(r *Request) { r.Context["aws:PrincipalOrgID"] = []string{org} }
	}
	runEvalCases(t, d, []evalCase{
		{"certain deny beats allow and an earlier uncertain deny", enc, denied("DenyCloudTrailEncrypt")},
		{"uncertain deny beats allow", with(enc, func(r *Request) { r.Action = "kms:GenerateDataKeyWithoutPlaintext" }), maybeDenied("DenyOutsideOrg")},
		{"deny condition known false", with(enc, func(r *Request) {
			r.Action = "kms:GenerateDataKeyWithoutPlaintext"
			inOrg("o-abc123")(r)
		}), allowed("Allow CloudTrail to encrypt logs")},
		{"deny condition known true", with(enc, func(r *Request) {
			r.Action = "kms:GenerateDataKeyWithoutPlaintext"
			inOrg("o-other")(r)
		}), denied("DenyOutsideOrg")},
		{"service principal case: uncertain, not granted", with(describeRequest(""), func(r *Request) {
			r.Context = map[string][]string{"aws:PrincipalOrgID": {"o-abc123"}}
		}), maybeAllowed("Allow CloudTrail access")},
		{"uncertain deny without any allow", Request{Caller: Caller{ARN: "arn:aws:iam::1:user/x"}, Action: "kms:Decrypt", Resource: keyARN}, maybeDenied("DenyOutsideOrg")},
	})
}

func TestEvaluateUncertainAllow(t *testing.T) {
	d := mustParse(t, []byte(`{"Statement":[
		{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
		{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringFancy":{"kms:CallerAccount":"1"}}},
		{"Effect":"Deny","Principal":"*","Action":"kms:Sign","Resource":"*","Condition":{"StringFancy":{"kms:CallerAccount":"1"}}},
		{"Effect":"Allow","Principal":"*","Action":"kms:Sign","Resource":"*"}
	]}`))
	base := Request{Caller: Caller{ARN: "arn:aws:iam::111111111111:user/u"}, Resource: keyARN}
	runEvalCases(t, d, []evalCase{
		{"unknown key: allow not satisfied", with(base, func(r *Request) { r.Action = "kms:Decrypt" }), maybeAllowed("#0")},
		{"key supplied: allow holds", with(base, func(r *Request) { r.Action = "kms:Decrypt"; r.Context["aws:SourceIp"] = []string{"10.1.2.3"} }), allowed("#0")},
		{"key supplied: allow fails", with(base, func(r *Request) { r.Action = "kms:Decrypt"; r.Context["aws:SourceIp"] = []string{"192.168.0.1"} }), implicit},
		{"unknown operator: allow not satisfied", with(base, func(r *Request) { r.Action = "kms:Encrypt"; r.Context["kms:CallerAccount"] = []string{"1"} }), maybeAllowed("#1")},
		{"unknown operator: deny possibly matches", with(base, func(r *Request) { r.Action = "kms:Sign" }), maybeDenied("#2")},
	})
}

// TestEvaluateMissingElements covers statements AWS would reject in a key
// policy: they never allow and always deny.
func TestEvaluateMissingElements(t *testing.T) {
	full := map[string]string{"Principal": `"*"`, "Action": `"kms:Decrypt"`, "Resource": `"*"`}
	for _, missing := range []string{"Principal", "Action", "Resource"} {
		for _, effect := range []string{"Allow", "Deny"} {
			t.Run(missing+"/"+effect, func(t *testing.T) {
				body := `"Effect":"` + effect + `"`
				for _, el := range []string{"Principal", "Action", "Resource"} {
					if el != missing {
						body += `,"` + el + `":` + full[el]
					}
				}
				d := mustParse(t, []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Sid":"X",`+body+`}]}`))
				got := d.Evaluate(Request{Caller: Caller{ARN: "arn:aws:iam::1:user/u"}, Action: "kms:Decrypt", Resource: keyARN})
				want := allowed("#0")
				if effect == "Deny" {
					want = denied("X")
				}
				if got != want {
					t.Errorf("got %+v, want %+v", got, want)
				}
			})
		}
	}
}

func TestEvaluatePartitions(t *testing.T) {
	d := mustParse(t, readFixture(t, "partitions.json"))
	govKey := "arn:aws-us-gov:kms:us-gov-west-1:333333333333:key/k"
	govTrail := "arn:aws-us-gov:cloudtrail:us-gov-west-1:333333333333:trail/gov"
	runEvalCases(t, d, []evalCase{
		{"aws-cn root", decryptRequest("arn:aws-cn:iam::222222222222:root", "", ""), allowed("ChinaRoot")},
		{"aws root of the same account id", decryptRequest("arn:aws:iam::222222222222:root", "", ""), implicit},
		{"aws-cn role session, role with a path", decryptRequest("arn:aws-cn:sts::222222222222:assumed-role/LogReader/audit", "", ""), allowed("ChinaReaderRole")},
		{"aws role session", decryptRequest("arn:aws:sts::222222222222:assumed-role/LogReader/audit", "", ""), implicit},
		{"aws-us-gov encrypt", encryptRequest(govTrail, "333333333333", govKey), allowed("GovCloudEncrypt")},
		{"aws-us-gov encrypt, key in aws", encryptRequest(govTrail, "333333333333", "arn:aws:kms:us-gov-west-1:333333333333:key/k"), implicit},
		{"aws-us-gov encrypt, trail in aws", encryptRequest("arn:aws:cloudtrail:us-gov-west-1:333333333333:trail/gov", "333333333333", govKey), implicit},
	})
}

func TestEvaluateDecisionStatement(t *testing.T) {
	d := mustParse(t, []byte(`{"Statement":[
		{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"},
		{"Sid":"Second","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
		{"Sid":"Third","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
		{"Effect":"Deny","Principal":"*","Action":"kms:Sign","Resource":"*"},
		{"Sid":"","Effect":"Deny","Principal":"*","Action":"kms:Sign","Resource":"*"}
	]}`))
	runEvalCases(t, d, []evalCase{
		{"first allow without Sid", Request{Action: "kms:Encrypt"}, allowed("#0")},
		{"first matching allow", Request{Action: "kms:Decrypt"}, allowed("Second")},
		{"first certain deny", Request{Action: "kms:Sign"}, denied("#3")},
	})
	var nilDoc *Document
	if got := nilDoc.Evaluate(Request{}); got != implicit {
		t.Errorf("nil document: %+v", got)
	}
	if got := NewDocument().Evaluate(encryptRequest(trailARN, acct, keyARN)); got != implicit || got.Allowed() {
		t.Errorf("empty document: %+v", got)
	}
}

func TestEvaluateCodeBuilt(t *testing.T) {
	// Statements built in code (no Has flags, no Raw) evaluate like parsed ones.
	d := NewDocument()
	d.Append(Statement{Sid: "TrailguardEncrypt", Effect: EffectAllow, Principal: ServicePrincipal(cloudtrail), Action: []string{"kms:GenerateDataKey*"}, Resource: []string{"*"},
		Condition: Condition{
			"StringLike":   {"kms:EncryptionContext:aws:cloudtrail:arn": {"arn:aws:cloudtrail:*:" + acct + ":trail/*"}},
			"StringEquals": {"aws:SourceArn": {trailARN}},
		}})
	if got := d.Evaluate(encryptRequest(trailARN, acct, keyARN)); got != allowed("TrailguardEncrypt") {
		t.Errorf("got %+v", got)
	}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got := mustParse(t, out).Evaluate(encryptRequest(trailARN, acct, keyARN)); got != allowed("TrailguardEncrypt") {
		t.Errorf("after round trip: %+v", got)
	}
	d.Statements[0].Effect = "allow" // invalid effect: ignored
	if got := d.Evaluate(encryptRequest(trailARN, acct, keyARN)); got != implicit {
		t.Errorf("invalid effect: %+v", got)
	}
}

func TestEffectString(t *testing.T) {
	for e, want := range map[Effect]string{ImplicitDeny: "ImplicitDeny", Allowed: "Allowed", ExplicitDeny: "ExplicitDeny", Effect(7): "Effect(7)"} {
		if got := e.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(e), got, want)
		}
	}
}

func TestCallerAccount(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::111122223333:root":                "111122223333",
		"arn:aws-cn:sts::444455556666:assumed-role/R/s": "444455556666",
		"777788889999": "777788889999",
		"":             "",
		"garbage":      "",
	} {
		if got := (Caller{ARN: arn}).Account(); got != want {
			t.Errorf("Account(%q) = %q, want %q", arn, got, want)
		}
	}
}

func ExampleDocument_Evaluate() {
	d, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[{
		"Sid":"Allow CloudTrail to encrypt logs","Effect":"Allow",
		"Principal":{"Service":"cloudtrail.amazonaws.com"},
		"Action":"kms:GenerateDataKey*","Resource":"*",
		"Condition":{"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:111111111111:trail/*"}}}]}`))
	if err != nil {
		panic(err)
	}
	dec := d.Evaluate(Request{
		Caller:   Caller{Service: "cloudtrail.amazonaws.com"},
		Action:   "kms:GenerateDataKey",
		Resource: "arn:aws:kms:us-east-2:111111111111:key/k",
		Context:  map[string][]string{"kms:EncryptionContext:aws:cloudtrail:arn": {"arn:aws:cloudtrail:us-east-2:111111111111:trail/t"}},
	})
	fmt.Println(dec.Effect, dec.Statement)
	// Output: Allowed Allow CloudTrail to encrypt logs
}

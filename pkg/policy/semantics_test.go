package policy

import (
	"errors"
	"strings"
	"testing"
)

// The AWS documentation pages the cases below rest on.
const (
	docPrincipal    = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"
	docNotPrincipal = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"
	docResource     = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"
	docOperators    = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
	docMultivalued  = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html"
)

// TestEvaluateDocumentedClasses covers the classes of issue 12: each case
// names the page that settles it, or that leaves it open (then the verdict
// is uncertain: an uncertain Allow never grants, an uncertain Deny counts).
func TestEvaluateDocumentedClasses(t *testing.T) {
	const (
		user    = "arn:aws:iam::111111111111:user/bob"
		role    = "arn:aws:iam::111111111111:role/Reader"
		session = "arn:aws:sts::111111111111:assumed-role/Reader/s1"
		root    = "arn:aws:iam::111111111111:root"
		other   = "arn:aws:iam::222222222222:user/eve"
	)
	allowAll := `{"Sid":"All","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`
	doc := func(stmts ...string) *Document {
		return mustParse(t, []byte(`{"Version":"2012-10-17","Statement":[`+strings.Join(stmts, ",")+`]}`))
	}
	dec := func(caller string) Request {
		return Request{Caller: Caller{ARN: caller}, Action: "kms:Decrypt", Resource: keyARN,
			Context: map[string][]string{"kms:CallerAccount": {Caller{ARN: caller}.Account()}}}
	}
	svc := func(name string) Request {
		return Request{Caller: Caller{Service: name}, Action: "kms:GenerateDataKey", Resource: keyARN}
	}
	tests := []struct {
		name, doc string
		d         *Document
		req       Request
		want      Decision
	}{
		// A: a Deny naming the account covers all its principals.
		{"A: Deny account root ARN denies a user", docPrincipal, doc(allowAll, `{"Sid":"D","Effect":"Deny","Principal":{"AWS":"`+root+`"},"Action":"*","Resource":"*"}`), dec(user), denied("D")},
		{"A: Deny account id denies a role session", docPrincipal, doc(allowAll, `{"Sid":"D","Effect":"Deny","Principal":{"AWS":"111111111111"},"Action":"*","Resource":"*"}`), dec(session), denied("D")},
		{"A: Deny account root denies a role", docPrincipal, doc(allowAll, `{"Sid":"D","Effect":"Deny","Principal":{"AWS":"`+root+`"},"Action":"*","Resource":"*"}`), dec(role), denied("D")},
		{"A: Deny account root denies the root", docPrincipal, doc(allowAll, `{"Sid":"D","Effect":"Deny","Principal":{"AWS":"`+root+`"},"Action":"*","Resource":"*"}`), dec(root), denied("D")},
		{"A: Deny account root spares another account", docPrincipal, doc(allowAll, `{"Sid":"D","Effect":"Deny","Principal":{"AWS":"`+root+`"},"Action":"*","Resource":"*"}`), dec(other), allowed("All")},
		{"A: Deny account root spares another partition", docPrincipal, doc(allowAll, `{"Sid":"D","Effect":"Deny","Principal":{"AWS":"`+root+`"},"Action":"*","Resource":"*"}`), dec("arn:aws-cn:iam::111111111111:user/bob"), allowed("All")},
		{"A: Deny account root spares a service", docPrincipal, doc(allowAll, `{"Sid":"D","Effect":"Deny","Principal":{"AWS":"`+root+`"},"Action":"*","Resource":"*"}`), svc(cloudtrail), allowed("All")},
		{"A: Allow account root still only for the root caller", docPrincipal, doc(`{"Sid":"R","Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"*","Resource":"*"}`), dec(user), implicit},
		{"A: Allow account root for the root caller", docPrincipal, doc(`{"Sid":"R","Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"*","Resource":"*"}`), dec(root), allowed("R")},

		// Allow with NotPrincipal: not supported, never grants.
		{"Allow NotPrincipal: uncertain, not granted", docNotPrincipal, doc(`{"Sid":"N","Effect":"Allow","NotPrincipal":{"AWS":"` + other + `"},"Action":"*","Resource":"*"}`), dec(user),
			Decision{Effect: ImplicitDeny, Statement: "N", Uncertain: true, Reason: whyAllowNotPrincipal}},
		{"Allow NotPrincipal: the listed caller is excluded", docNotPrincipal, doc(`{"Sid":"N","Effect":"Allow","NotPrincipal":{"AWS":"` + other + `"},"Action":"*","Resource":"*"}`), dec(other), implicit},
		{"Allow NotPrincipal: a later Allow still grants", docNotPrincipal, doc(`{"Sid":"N","Effect":"Allow","NotPrincipal":{"AWS":"`+other+`"},"Action":"*","Resource":"*"}`, allowAll), dec(user), allowed("All")},
		{"Deny NotPrincipal listing only the caller's account: possible Deny", docNotPrincipal, doc(allowAll, `{"Sid":"N","Effect":"Deny","NotPrincipal":{"AWS":"`+root+`"},"Action":"*","Resource":"*"}`), dec(user), maybeDenied("N")},
		{"Deny NotPrincipal listing only the session's role: possible Deny", docNotPrincipal, doc(allowAll, `{"Sid":"N","Effect":"Deny","NotPrincipal":{"AWS":"`+role+`"},"Action":"*","Resource":"*"}`), dec(session), maybeDenied("N")},
		{"Deny NotPrincipal listing the caller and its account: not denied", docNotPrincipal, doc(allowAll, `{"Sid":"N","Effect":"Deny","NotPrincipal":{"AWS":["`+user+`","`+root+`"]},"Action":"*","Resource":"*"}`), dec(user), allowed("All")},
		{"Deny NotPrincipal listing the account, caller its root: not denied", docNotPrincipal, doc(allowAll, `{"Sid":"N","Effect":"Deny","NotPrincipal":{"AWS":"111111111111"},"Action":"*","Resource":"*"}`), dec(root), allowed("All")},
		{"Deny NotPrincipal still denies the unlisted", docNotPrincipal, doc(allowAll, `{"Sid":"N","Effect":"Deny","NotPrincipal":{"AWS":"`+other+`"},"Action":"*","Resource":"*"}`), dec(user), denied("N")},

		// B: service principal case.
		{"B: exact service principal", docPrincipal, doc(`{"Sid":"S","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*"}`), svc(cloudtrail), allowed("S")},
		{"B: service principal in another case: uncertain Allow", docPrincipal, doc(`{"Sid":"S","Effect":"Allow","Principal":{"Service":"CloudTrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*"}`), svc(cloudtrail),
			Decision{Effect: ImplicitDeny, Statement: "S", Uncertain: true, Reason: whyServiceCase}},
		{"B: service principal in another case: possible Deny", docPrincipal, doc(allowAll, `{"Sid":"S","Effect":"Deny","Principal":{"Service":"CLOUDTRAIL.AMAZONAWS.COM"},"Action":"*","Resource":"*"}`), svc(cloudtrail), maybeDenied("S")},
		{"B: other service", docPrincipal, doc(`{"Sid":"S","Effect":"Allow","Principal":{"Service":"CloudTrail.amazonaws.com"},"Action":"*","Resource":"*"}`), svc("s3.amazonaws.com"), implicit},

		// C: ARN prefix case in Resource.
		{"C: resource ARN prefix in upper case: uncertain", docResource, doc(`{"Sid":"K","Effect":"Allow","Principal":"*","Action":"*","Resource":"ARN:AWS:KMS:us-east-2:111111111111:key/*"}`), dec(user),
			Decision{Effect: ImplicitDeny, Statement: "K", Uncertain: true, Reason: whyResourceARNCase}},
		{"C: upper-case NotResource: possible Deny", docResource, doc(allowAll, `{"Sid":"K","Effect":"Deny","Principal":"*","Action":"*","NotResource":"arn:aws:KMS:us-east-2:111111111111:key/*"}`), dec(user), maybeDenied("K")},
		{"C: resource segment case is decided (no match)", docResource, doc(`{"Sid":"K","Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:us-east-2:111111111111:KEY/*"}`), dec(user), implicit},
		{"C: upper-case prefix of another account: no match", docResource, doc(`{"Sid":"K","Effect":"Allow","Principal":"*","Action":"*","Resource":"ARN:AWS:KMS:us-east-2:999999999999:key/*"}`), dec(user), implicit},

		// E: ForAnyValue ...IfExists on an absent key.
		{"E: ForAnyValue IfExists, key absent: uncertain Allow", docMultivalued, doc(`{"Sid":"E","Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEqualsIfExists":{"kms:EncryptionContextKeys":"aws:cloudtrail:arn"}}}`), dec(user), maybeAllowed("E")},
		{"E: ForAnyValue IfExists, key absent: possible Deny", docMultivalued, doc(allowAll, `{"Sid":"E","Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringNotLikeIfExists":{"kms:EncryptionContextKeys":"aws:*"}}}`), dec(user), maybeDenied("E")},
		{"E: ForAnyValue without IfExists, key absent: false", docMultivalued, doc(allowAll, `{"Sid":"E","Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringNotLike":{"kms:EncryptionContextKeys":"aws:*"}}}`), dec(user), allowed("All")},

		// F: a single-valued operator on kms:EncryptionContextKeys.
		{"F: StringEquals on EncryptionContextKeys: uncertain", docMultivalued, doc(`{"Sid":"F","Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContextKeys":"aws:cloudtrail:arn"}}}`),
			with(dec(user), func(r *Request) { r.Context["kms:EncryptionContextKeys"] = []string{"aws:cloudtrail:arn"} }), maybeAllowed("F")},
		{"F: ForAnyValue on EncryptionContextKeys is decided", docMultivalued, doc(`{"Sid":"F","Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"aws:cloudtrail:arn"}}}`),
			with(dec(user), func(r *Request) { r.Context["kms:EncryptionContextKeys"] = []string{"aws:cloudtrail:arn"} }), allowed("F")},

		// G: ArnLike with "*".
		{"G: ArnLike * on aws:SourceArn: uncertain", docOperators, doc(`{"Sid":"G","Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"*"}}}`),
			with(svc(cloudtrail), func(r *Request) { r.Context = map[string][]string{"aws:SourceArn": {trailARN}} }), maybeAllowed("G")},
		{"G: ArnLike * with the key absent is decided", docOperators, doc(`{"Sid":"G","Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"*"}}}`), svc(cloudtrail), implicit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.d.Evaluate(tt.req)
			if got.Uncertain != (got.Reason != "") {
				t.Errorf("%+v: Reason must be set exactly when Uncertain", got)
			}
			if tt.want.Reason == "" {
				got.Reason = ""
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v (see %s)", got, tt.want, tt.doc)
			}
		})
	}
}

// TestParseNoStatement: a document without a Statement member is not a
// key policy (a bare statement or a CloudFormation resource would
// otherwise read as a policy that allows nothing).
func TestParseNoStatement(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"Version":"2012-10-17"}`,
		`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`,
		`{"Type":"AWS::KMS::Key","Properties":{"KeyPolicy":{"Statement":[]}}}`,
	} {
		_, err := Parse([]byte(in))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a key policy: no Statement") {
			t.Errorf("Parse(%s) = %v, want an ErrInvalid saying \"not a key policy: no Statement\"", in, err)
		}
	}
	if _, err := Parse([]byte(`{"Statement":[]}`)); err != nil {
		t.Errorf("an empty Statement list is a key policy: %v", err)
	}
}

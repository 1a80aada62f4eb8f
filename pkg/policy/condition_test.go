package policy

import (
	"fmt"
	"testing"
)

func (t tri) String() string {
	switch t {
	case triTrue:
		return "True"
	case triFalse:
		return "False"
	}
	return "Unknown"
}

func TestConditionOperators(t *testing.T) {
	const (
		T = triTrue
		F = triFalse
		U = triUnknown
	)
	// ctx is the request context of every case; "aws:SourceIp" etc. are
	// not modelled, so leaving them out makes them unknown.
	ctx := map[string][]string{
		"aws:SourceArn":                  {"arn:aws:cloudtrail:us-east-1:111111111111:trail/Main"},
		"kms:CallerAccount":              {"111111111111"},
		"kms:EncryptionContextKeys":      {"aws:cloudtrail:arn", "aws:s3:arn"},
		"kms:EncryptionContext:purpose":  {"Logs"},
		"kms:GrantIsForAWSResource":      {"true"},
		"aws:SourceIp":                   {"203.0.113.7"},
		"aws:SourceIp6":                  {"2001:db8::1"},
		"aws:CurrentTime":                {"2024-05-01T10:00:00Z"},
		"aws:EpochTime":                  {"1714557600"},
		"aws:MultiFactorAuthAge":         {"300"},
		"kms:RecipientAttestation:PCR0":  {"QUJD"},
		"kms:EncryptionContext:empty":    {},
		"kms:EncryptionContext:notanarn": {"just-text"},
	}
	arn := "aws:SourceArn"
	tests := []struct {
		op   string
		key  string
		vals []string
		want tri
	}{
		// String operators, present key.
		{"StringEquals", arn, []string{"arn:aws:cloudtrail:us-east-1:111111111111:trail/Main"}, T},
		{"StringEquals", arn, []string{"x", "arn:aws:cloudtrail:us-east-1:111111111111:trail/Main"}, T},
		{"StringEquals", arn, []string{"arn:aws:cloudtrail:us-east-1:111111111111:trail/main"}, F},
		{"StringEquals", "AWS:SOURCEARN", []string{"arn:aws:cloudtrail:us-east-1:111111111111:trail/Main"}, T},
		{"StringNotEquals", "kms:CallerAccount", []string{"111111111111"}, F},
		{"StringNotEquals", "kms:CallerAccount", []string{"222222222222", "333333333333"}, T},
		{"StringEqualsIgnoreCase", "kms:EncryptionContext:purpose", []string{"LOGS"}, T},
		{"StringNotEqualsIgnoreCase", "kms:EncryptionContext:purpose", []string{"logs"}, F},
		{"StringNotEqualsIgnoreCase", "kms:EncryptionContext:purpose", []string{"other"}, T},
		{"StringLike", arn, []string{"arn:aws:cloudtrail:*:111111111111:trail/*"}, T},
		{"StringLike", arn, []string{"arn:aws:cloudtrail:us-east-?:111111111111:trail/Mai?"}, T},
		{"StringLike", arn, []string{"arn:aws:cloudtrail:*:222222222222:trail/*"}, F},
		{"StringLike", arn, []string{"ARN:aws:cloudtrail:*"}, F},
		{"StringNotLike", arn, []string{"arn:aws:cloudtrail:*:222222222222:trail/*"}, T},
		{"StringNotLike", arn, []string{"*"}, F},
		{"stringequals", "kms:CallerAccount", []string{"111111111111"}, T},
		// Absent modelled key: positive false, negated true.
		{"StringEquals", "aws:SourceAccount", []string{"111111111111"}, F},
		{"StringNotEquals", "aws:SourceAccount", []string{"111111111111"}, T},
		{"StringLike", "kms:EncryptionContext:aws:cloudtrail:arn", []string{"*"}, F},
		{"ArnNotLike", "aws:SourceArn ", []string{"*"}, U}, // a different (unknown) key
		// Unknown key.
		{"StringEquals", "aws:PrincipalOrgID", []string{"o-1"}, U},
		{"StringNotEquals", "aws:PrincipalOrgID", []string{"o-1"}, U},
		{"StringEqualsIfExists", "aws:PrincipalOrgID", []string{"o-1"}, U},
		// Policy variables are not expanded.
		{"StringEquals", arn, []string{"${aws:SourceArn}"}, U},
		{"StringLike", arn, []string{"${aws:username}", "arn:*"}, T},
		{"StringNotLike", arn, []string{"${aws:username}"}, U},
		// ARN operators.
		{"ArnLike", arn, []string{"arn:aws:cloudtrail:*:111111111111:trail/*"}, T},
		{"ArnEquals", arn, []string{"arn:aws:cloudtrail:us-east-1:111111111111:trail/Main"}, T},
		{"ArnEquals", arn, []string{"arn:aws:cloudtrail:*:111111111111:trail/M*"}, T},
		{"ArnLike", arn, []string{"arn:aws:cloudtrail:*"}, U},
		{"ArnLike", arn, []string{"arn:aws:cloudtrail:*", "arn:aws:cloudtrail:*:*:*"}, T},
		{"ArnNotLike", arn, []string{"arn:aws:cloudtrail:*"}, U},
		// G: ArnLike/ArnEquals with "*": the ARN operators page describes
		// only six-part patterns (reference_policies_elements_condition_operators.html#Conditions_ARN).
		{"ArnLike", arn, []string{"*"}, U},
		{"ArnEquals", arn, []string{"*"}, U},
		{"ArnNotLike", arn, []string{"*"}, U},
		{"ArnLike", arn, []string{"*", "arn:aws:cloudtrail:*:*:*"}, T},
		{"ArnLike", arn, []string{"arn:aws:cloudtrail:us-*:111111111111:trail/Main"}, T},
		{"ArnLike", arn, []string{"arn:aws-cn:cloudtrail:*:111111111111:trail/*"}, F},
		{"ArnNotEquals", arn, []string{"arn:aws:cloudtrail:*:222222222222:trail/*"}, T},
		{"ArnNotLike", arn, []string{"arn:aws:cloudtrail:*:111111111111:trail/*"}, F},
		{"ArnLike", "kms:EncryptionContext:notanarn", []string{"*"}, F},
		// Numeric.
		{"NumericEquals", "aws:MultiFactorAuthAge", []string{"300"}, T},
		{"NumericEquals", "aws:MultiFactorAuthAge", []string{"300.0"}, T},
		{"NumericNotEquals", "aws:MultiFactorAuthAge", []string{"300"}, F},
		{"NumericNotEquals", "aws:MultiFactorAuthAge", []string{"1", "2"}, T},
		{"NumericLessThan", "aws:MultiFactorAuthAge", []string{"3600"}, T},
		{"NumericLessThan", "aws:MultiFactorAuthAge", []string{"300"}, F},
		{"NumericLessThanEquals", "aws:MultiFactorAuthAge", []string{"300"}, T},
		{"NumericGreaterThan", "aws:MultiFactorAuthAge", []string{"300"}, F},
		{"NumericGreaterThanEquals", "aws:MultiFactorAuthAge", []string{"300"}, T},
		{"NumericGreaterThan", "aws:MultiFactorAuthAge", []string{"many"}, U},
		{"NumericEquals", "kms:EncryptionContext:purpose", []string{"1"}, F},
		// Date.
		{"DateGreaterThan", "aws:CurrentTime", []string{"2019-07-16T12:00:00Z"}, T},
		{"DateLessThan", "aws:CurrentTime", []string{"2019-07-16T12:00:00Z"}, F},
		{"DateLessThan", "aws:CurrentTime", []string{"2025-01-01"}, T},
		{"DateEquals", "aws:CurrentTime", []string{"1714557600"}, T},
		{"DateEquals", "aws:EpochTime", []string{"2024-05-01T12:00:00+02:00"}, T},
		{"DateNotEquals", "aws:CurrentTime", []string{"2024-05-01T10:00:00Z"}, F},
		{"DateLessThanEquals", "aws:CurrentTime", []string{"2024-05-01T10:00:00Z"}, T},
		{"DateGreaterThanEquals", "aws:CurrentTime", []string{"2024-05-01T10:00:01Z"}, F},
		{"DateGreaterThan", "aws:CurrentTime", []string{"yesterday"}, U},
		{"DateGreaterThan", "kms:EncryptionContext:purpose", []string{"2019-07-16T12:00:00Z"}, F},
		{"DateGreaterThan", "aws:TokenIssueTime", []string{"2019-07-16T12:00:00Z"}, U},
		// Bool, binary, IP.
		{"Bool", "kms:GrantIsForAWSResource", []string{"true"}, T},
		{"Bool", "kms:GrantIsForAWSResource", []string{"TRUE"}, T},
		{"Bool", "kms:GrantIsForAWSResource", []string{"false"}, F},
		{"Bool", "kms:GrantIsForAWSResource", []string{"maybe"}, U},
		{"Bool", "kms:EncryptionContext:purpose", []string{"true"}, F},
		{"Bool", "aws:SecureTransport", []string{"true"}, U},
		{"BoolIfExists", "kms:ViaService", []string{"true"}, T},
		{"BinaryEquals", "kms:RecipientAttestation:PCR0", []string{"QUJD"}, T},
		{"BinaryEquals", "kms:RecipientAttestation:PCR0", []string{"QUJE"}, F},
		{"IpAddress", "aws:SourceIp", []string{"203.0.113.0/24"}, T},
		{"IpAddress", "aws:SourceIp", []string{"203.0.113.7"}, T},
		{"IpAddress", "aws:SourceIp", []string{"10.0.0.0/8", "198.51.100.0/24"}, F},
		{"IpAddress", "aws:SourceIp6", []string{"2001:db8::/32"}, T},
		{"IpAddress", "aws:SourceIp", []string{"not-an-ip"}, U},
		{"NotIpAddress", "aws:SourceIp", []string{"203.0.113.0/24"}, F},
		{"NotIpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, T},
		{"IpAddress", "kms:EncryptionContext:purpose", []string{"10.0.0.0/8"}, F},
		// Null.
		{"Null", "aws:SourceArn", []string{"false"}, T},
		{"Null", "aws:SourceArn", []string{"true"}, F},
		{"Null", "aws:SourceAccount", []string{"true"}, T},
		{"Null", "aws:SourceAccount", []string{"false"}, F},
		{"Null", "aws:SourceAccount", []string{"false", "true"}, T},
		{"Null", "kms:EncryptionContext:aws:cloudtrail:arn", []string{"false"}, F},
		{"Null", "aws:PrincipalOrgID", []string{"true"}, U},
		{"NullIfExists", "aws:SourceArn", []string{"false"}, U},
		{"ForAnyValue:Null", "aws:SourceArn", []string{"false"}, U},
		// IfExists.
		{"StringEqualsIfExists", "aws:SourceAccount", []string{"1"}, T},
		{"StringEqualsIfExists", arn, []string{"x"}, F},
		{"StringNotEqualsIfExists", "aws:SourceAccount", []string{"1"}, T},
		{"ArnLikeIfExists", arn, []string{"arn:aws:cloudtrail:*:111111111111:trail/*"}, T},
		{"NumericLessThanIfExists", "kms:EncryptionContext:absent", []string{"1"}, T},
		// ForAnyValue / ForAllValues.
		{"ForAnyValue:StringEquals", "kms:EncryptionContextKeys", []string{"aws:s3:arn"}, T},
		{"ForAnyValue:StringLike", "kms:EncryptionContextKeys", []string{"aws:cloudtrail:*"}, T},
		{"ForAnyValue:StringEquals", "kms:EncryptionContextKeys", []string{"other"}, F},
		{"ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", []string{"aws:s3:arn"}, T},
		{"ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", []string{"aws:s3:arn", "aws:cloudtrail:arn"}, F},
		{"ForAnyValue:StringEquals", "kms:EncryptionContext:missing", []string{"x"}, F},
		{"ForAnyValue:StringNotEquals", "kms:EncryptionContext:missing", []string{"x"}, F},
		// E: ForAnyValue on an absent key is false, IfExists on an absent
		// key is true (reference_policies_condition-single-vs-multi-valued-context-keys.html,
		// reference_policies_elements_condition_operators.html#Conditions_IfExists): undecided.
		{"ForAnyValue:StringEqualsIfExists", "kms:EncryptionContext:missing", []string{"x"}, U},
		{"ForAnyValue:StringNotEqualsIfExists", "kms:EncryptionContext:missing", []string{"x"}, U},
		{"ForAllValues:StringEqualsIfExists", "kms:EncryptionContext:missing", []string{"x"}, T},
		// F: "Multivalued context keys require a condition set operator"
		// (reference_policies_condition-single-vs-multi-valued-context-keys.html):
		// a plain operator on kms:EncryptionContextKeys is undecided.
		{"StringEquals", "kms:EncryptionContextKeys", []string{"aws:cloudtrail:arn"}, U},
		{"StringNotEquals", "kms:EncryptionContextKeys", []string{"x"}, U},
		{"StringLikeIfExists", "kms:EncryptionContextKeys", []string{"*"}, U},
		{"ForAnyValue:StringEquals", "kms:EncryptionContext:empty", []string{"x"}, F},
		{"ForAllValues:StringEquals", "kms:EncryptionContextKeys", []string{"aws:cloudtrail:arn", "aws:s3:arn", "extra"}, T},
		{"ForAllValues:StringEquals", "kms:EncryptionContextKeys", []string{"aws:cloudtrail:arn"}, F},
		{"ForAllValues:StringLike", "kms:EncryptionContextKeys", []string{"aws:*"}, T},
		{"ForAllValues:StringNotLike", "kms:EncryptionContextKeys", []string{"secret*"}, T},
		{"ForAllValues:StringNotEquals", "kms:EncryptionContextKeys", []string{"aws:s3:arn"}, F},
		{"ForAllValues:StringEquals", "kms:EncryptionContext:missing", []string{"x"}, T},
		{"ForAllValues:StringEquals", "kms:EncryptionContext:empty", []string{"x"}, T},
		{"forallvalues:stringequals", "kms:EncryptionContextKeys", []string{"aws:cloudtrail:arn", "aws:s3:arn"}, T},
		{"ForAllValues:StringEquals", "aws:TagKeys", []string{"x"}, U},
		// Unknown operators.
		{"StringFancy", arn, []string{"x"}, U},
		{"ForSomeValues:StringEquals", arn, []string{"x"}, U},
		{"IfExists", arn, []string{"x"}, U},
	}
	rctx := newReqContext(nil, ctx)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%v", tt.op, tt.key, tt.vals), func(t *testing.T) {
			c := Condition{tt.op: {tt.key: tt.vals}}
			got, why := evalCondition(c, rctx)
			if got != tt.want {
				t.Errorf("%s {%q: %q} = %v, want %v", tt.op, tt.key, tt.vals, got, tt.want)
			}
			if (got == triUnknown) != (why != "") {
				t.Errorf("%s {%q: %q}: result %v with reason %q", tt.op, tt.key, tt.vals, got, why)
			}
		})
	}
}

func TestConditionBlocks(t *testing.T) {
	ctx := newReqContext(nil, map[string][]string{"aws:SourceArn": {"a"}, "aws:SourceAccount": {"1"}})
	tests := []struct {
		name string
		c    Condition
		want tri
		why  string // the reason when want is triUnknown
	}{
		{"empty", nil, triTrue, ""},
		{"all keys of a block hold", Condition{"StringEquals": {"aws:SourceArn": {"a"}, "aws:SourceAccount": {"1"}}}, triTrue, ""},
		{"one key of a block fails", Condition{"StringEquals": {"aws:SourceArn": {"a"}, "aws:SourceAccount": {"2"}}}, triFalse, ""},
		{"all blocks hold", Condition{"StringEquals": {"aws:SourceArn": {"a"}}, "StringLike": {"aws:SourceAccount": {"?"}}}, triTrue, ""},
		{"one block fails", Condition{"StringEquals": {"aws:SourceArn": {"a"}}, "StringNotLike": {"aws:SourceAccount": {"?"}}}, triFalse, ""},
		{"unknown and true", Condition{"StringEquals": {"aws:SourceArn": {"a"}, "aws:PrincipalOrgID": {"o"}}}, triUnknown,
			"condition StringEquals on aws:PrincipalOrgID: the key is not one trailguard models for a KMS request"},
		{"unknown and false", Condition{"StringEquals": {"aws:SourceArn": {"b"}}, "Foo": {"aws:SourceArn": {"a"}}}, triFalse, ""},
		{"unknown operator with no keys", Condition{"Foo": {}}, triUnknown, `condition operator "Foo" is not one trailguard knows`},
		// Several undecided pairs: the reason names the first in
		// (operator, key) order whatever order the maps are ranged in
		// (the fuzz round trip compares whole results; CI found this).
		{"two undecided operators", Condition{"StrigEquals": {"aws:SourceArn": {"a"}}, "StringLike": {"x:y": {"a"}}}, triUnknown,
			`condition operator "StrigEquals" is not one trailguard knows`},
		{"two undecided keys", Condition{"StringLike": {"x:b": {"a"}, "x:a": {"a"}, "x:c": {"a"}}}, triUnknown,
			"condition StringLike on x:a: the key is not one trailguard models for a KMS request"},
		{"empty value list", Condition{"StringEquals": {"aws:SourceArn": {}}}, triFalse, ""},
		{"empty value list, negated", Condition{"StringNotEquals": {"aws:SourceArn": {}}}, triTrue, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Map order is random: evaluate repeatedly.
			for range 50 {
				got, why := evalCondition(tt.c, ctx)
				if got != tt.want {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
				if why != tt.why {
					t.Fatalf("reason %q, want %q", why, tt.why)
				}
			}
		})
	}
}

func TestModelledKey(t *testing.T) {
	for key, want := range map[string]bool{
		"kms:EncryptionContext:aws:cloudtrail:arn": true,
		"KMS:ENCRYPTIONCONTEXT:anything":           true,
		"kms:EncryptionContextKeys":                true,
		"kms:CallerAccount":                        true,
		"kms:CallAccount":                          true,
		"kms:ViaService":                           true,
		"kms:GrantIsForAWSResource":                true,
		"aws:SourceArn":                            true,
		"aws:sourceaccount":                        true,
		"aws:SourceOrgID":                          true,
		"aws:PrincipalArn":                         true,
		"aws:PrincipalAccount":                     true,
		"aws:PrincipalServiceName":                 true,
		"aws:PrincipalType":                        true,
		"aws:PrincipalIsAWSService":                true,
		"kms:EncryptionContext":                    false,
		"aws:PrincipalOrgID":                       false,
		"aws:SourceIp":                             false,
		"aws:SecureTransport":                      false,
		"kms:GrantOperations":                      false,
		"":                                         false,
	} {
		if got := ModelledKey(key); got != want {
			t.Errorf("ModelledKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		fold, want bool
	}{
		{"*", "", false, true},
		{"*", "anything", false, true},
		{"", "", false, true},
		{"", "a", false, false},
		{"kms:*", "kms:Decrypt", true, true},
		{"kms:GenerateDataKey*", "kms:GenerateDataKeyPairWithoutPlaintext", true, true},
		{"kms:GenerateDataKey*", "kms:generatedatakey", true, true},
		{"kms:GenerateDataKey*", "kms:generatedatakey", false, false},
		{"kms:GenerateDataKey", "kms:GenerateDataKeyPair", true, false},
		{"kms:?ecrypt", "kms:Decrypt", true, true},
		{"kms:?ecrypt", "kms:ecrypt", true, false},
		{"a*b*c", "aXbYbZc", false, true},
		{"a*b*c", "aXbYbZ", false, false},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
		{"?", "é", false, true},
		{"??", "é", false, false},
		{"*?x", "éx", false, true},
		{"*??", "é", false, false},
		{"é*", "éa", false, true},
		{"**", "x", false, true},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s, tt.fold); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q, %v) = %v, want %v", tt.pattern, tt.s, tt.fold, got, tt.want)
		}
	}
}

func TestArnLike(t *testing.T) {
	const trail = "arn:aws:cloudtrail:us-east-1:111111111111:trail/Main"
	tests := []struct {
		pattern, value string
		want           tri
	}{
		{"arn:aws:cloudtrail:*:111111111111:trail/*", trail, triTrue},
		{trail, trail, triTrue},
		{"arn:aws:cloudtrail:*:111111111111:trail/*", "arn:aws:cloudtrail:us-east-1:x:111111111111:trail/Main", triFalse},
		{"arn:*:cloudtrail:*:*:*", trail, triTrue},
		{"arn:aws:cloudtrail:*:*:trail/*", "arn:aws:cloudtrail:us-east-1:111111111111:trail/a:b", triTrue},
		{"arn:aws:cloudtrail:*:*:trail/a", "arn:aws:cloudtrail:us-east-1:111111111111:trail/a:b", triFalse},
		{"arn:aws:cloudtrail:*:111111111111:trail/*", "arn:aws:cloudtrail:us-east-1", triFalse},
		{"arn:aws:cloudtrail:*", trail, triUnknown},
		{"***", trail, triUnknown},
		{"", trail, triUnknown},
		{"*", trail, triUnknown},
		{"*", "not an arn", triFalse},
		{"arn:aws:CloudTrail:*:*:*", trail, triFalse},
	}
	for _, tt := range tests {
		if got := arnLike(tt.pattern, tt.value); got != tt.want {
			t.Errorf("arnLike(%q, %q) = %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
}

package reconcile

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/trailguard/trailguard/pkg/state"
)

// transientCodes are API error codes that mean "try again later" beyond
// the SDK's own retryable and throttle codes.
var transientCodes = map[string]bool{
	"KMSInternalException":            true,
	"DependencyTimeoutException":      true,
	"InternalFailure":                 true,
	"InternalError":                   true,
	"InternalErrorException":          true,
	"InternalServerError":             true,
	"ServiceUnavailable":              true,
	"ServiceUnavailableException":     true,
	"ConcurrentModificationException": true,
	"ConflictException":               true,
	// Expired temporary credentials are refreshed on the next attempt.
	"ExpiredToken":          true,
	"ExpiredTokenException": true,
}

// Transient reports whether err is worth retrying later: throttling, a
// server-side (5xx) error, a timeout or connection error, an exhausted
// client retry quota, or a canceled or expired context (the Lambda
// deadline). Everything else (access denied, validation, invalid state,
// not found) is terminal.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	// A lease another writer holds, or one about to expire: try later.
	if errors.Is(err, state.ErrBusy) || errors.Is(err, state.ErrLeaseLost) {
		return true
	}
	var prop *errPropagating
	if errors.As(err, &prop) || errors.Is(err, errOwnWriteGone) {
		return true
	}
	var quota *ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return true
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if transientCodes[apiErr.ErrorCode()] {
			return true
		}
		if apiErr.ErrorFault() == smithy.FaultServer {
			return true
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500 {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// errorCode returns the AWS API error code in err, or "".
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// isNotFound reports whether err says the resource does not exist.
func isNotFound(err error) bool {
	code := errorCode(err)
	return code == "NotFoundException" || code == "TrailNotFoundException" || code == "NoSuchBucket" ||
		strings.HasSuffix(code, "NotFoundException") || strings.HasSuffix(code, "NotFound")
}

// isAccessDenied reports whether err is a denied request: an AccessDenied
// error code (KMS AccessDeniedException, S3 AccessDenied, ...) or an HTTP
// 403 answer.
func isAccessDenied(err error) bool {
	code := errorCode(err)
	if code == "AccessDeniedException" || code == "AccessDenied" || code == "UnauthorizedOperation" ||
		strings.HasSuffix(code, "AccessDeniedException") {
		return true
	}
	var respErr *awshttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == 403
}

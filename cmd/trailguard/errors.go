package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
)

// Exit codes.
const (
	exitOK       = 0 // everything compliant (or nothing left to do)
	exitFindings = 1 // findings remain
	exitError    = 2 // the command could not run
)

// exitCodeError ends a command with a given exit code. With a nil err
// nothing more is printed (the output already says what is wrong).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// errFindings ends a command with exit code 1 and no message.
var errFindings = &exitCodeError{code: exitFindings}

// usageError is a malformed command line: a bad flag or argument.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode returns the process exit code for err.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	return exitError
}

// explain turns an error into one actionable line (without the
// "trailguard: " prefix). endpoint is AWS_ENDPOINT_URL, when set.
func explain(err error, endpoint string) string {
	var ue *usageError
	var ec *exitCodeError
	var ae smithy.APIError
	switch {
	case errors.As(err, &ec) && ec.err != nil:
		return explain(ec.err, endpoint)
	case errors.As(err, &ue):
		return ue.msg + " (see trailguard --help)"
	case errors.Is(err, errNoCredentials):
		return errNoCredentials.Error()
	case errors.Is(err, errNoRegion):
		return errNoRegion.Error()
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	if where, why, ok := unreachable(err, endpoint); ok {
		return fmt.Sprintf("cannot reach AWS endpoint %s: %s (check AWS_ENDPOINT_URL / network)", where, why)
	}
	if errors.As(err, &ae) {
		msg := oneLine(err.Error())
		switch code := ae.ErrorCode(); {
		case strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation":
			return msg + " (check the IAM permissions of your AWS identity)"
		case code == "InvalidClientTokenId" || code == "UnrecognizedClientException" ||
			code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "ExpiredTokenException":
			return msg + " (check your AWS credentials)"
		}
		return msg
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return oneLine(err.Error()) + " (timed out: check AWS_ENDPOINT_URL / network)"
	}
	return oneLine(err.Error())
}

// unreachable reports whether err is a failure to connect to an endpoint,
// with the endpoint (scheme://host) and a short reason.
func unreachable(err error, endpoint string) (where, why string, ok bool) {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		why = "no such host " + dnsErr.Name
	case errors.As(err, &opErr) && opErr.Op == "dial":
		switch {
		case errors.Is(opErr, syscall.ECONNREFUSED):
			why = "connection refused"
		case opErr.Timeout():
			why = "connection timed out"
		default:
			why = oneLine(opErr.Err.Error())
		}
	default:
		return "", "", false
	}
	where = endpoint
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if u, perr := url.Parse(uerr.URL); perr == nil && u.Host != "" {
			where = u.Scheme + "://" + u.Host
		}
	}
	if where == "" {
		where = "(unknown)"
	}
	return where, why, true
}

// oneLine joins a possibly multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

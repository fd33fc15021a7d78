package ecsx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/ecsdr/ecs-image-dr/pkg/redact"
)

// Error is an ECS call failure with the call's context. The adapter returns it for every
// failed call; fakes build it with NewError. Classification reads Code and HTTPStatus only,
// never Message.
type Error struct {
	Op         string // ECS action, e.g. "CreateImage"
	Resource   string // instance, image or snapshot id the call was about (may be empty)
	Region     string
	Code       string // ECS error code, e.g. "Throttling.User"; empty for transport errors
	HTTPStatus int    // 0 for transport errors
	RequestID  string
	Message    string
	// Err is the underlying error with credential-shaped content removed (see wrap); nil
	// for a service error, whose code, status and message are the fields above.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ecs: ")
	b.WriteString(e.Op)
	if e.Resource != "" {
		b.WriteString(" ")
		b.WriteString(e.Resource)
	}
	if e.Region != "" {
		b.WriteString(" in ")
		b.WriteString(e.Region)
	}
	b.WriteString(": ")
	switch {
	case e.Err != nil && e.Code != "":
		fmt.Fprintf(&b, "%s: %s: %s", e.Code, redact.String(e.Message), e.Err.Error())
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		fmt.Fprintf(&b, "%s (http %d): %s", e.Code, e.HTTPStatus, redact.String(e.Message))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// NewError returns a classifiable error as the service would produce it, for fakes and
// emulators that implement API without HTTP.
func NewError(code string, httpStatus int, message string) error {
	return &Error{Code: code, HTTPStatus: httpStatus, Message: message}
}

// wrap turns an SDK error into *Error with the call's context. Nothing of the SDK's own
// error strings survives unfiltered: a transport error is a *url.Error whose URL carries
// the signed query (AccessKeyId, Signature, SecurityToken), a ServerError's text holds the
// response headers, and a SignatureDoesNotMatch message echoes the whole string to sign.
// So a service error keeps only its code, status, request id and redacted message, and
// a transport error is kept as a *url.Error without the query (IsRetryable still sees it).
func wrap(op, resource, region string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Resource: resource, Region: region}
	var se *sdkerrors.ServerError
	var ce *sdkerrors.ClientError
	switch {
	case errors.As(err, &se):
		e.Code, e.HTTPStatus, e.RequestID, e.Message = se.ErrorCode(), se.HttpStatus(), se.RequestId(), redact.String(se.Message())
	case errors.As(err, &ce):
		e.Code, e.Message = ce.ErrorCode(), redact.String(ce.Message())
		e.Err = redact.Error(ce.OriginError()) // nil when the SDK had no cause
	default:
		e.Err = redact.Error(err)
	}
	return e
}

// Code returns the ECS error code of err ("" when err carries none, e.g. a transport error).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		return coded.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.HTTPStatus
	}
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		return se.HttpStatus()
	}
	return 0
}

// Code sets. Prefix sets match a code family by string prefix ("Throttling" matches
// "Throttling.User", "Invalid" matches "InvalidImageName.Malformed").
var (
	throttlePrefixes = []string{"Throttling"}
	retryableCodes   = map[string]bool{
		"ServiceUnavailable":        true,
		"InternalError":             true,
		"InternalError.Dispatch":    true,
		"UnknownError":              true,
		"SDK.TimeoutError":          true,
		"OperationConflict":         true, // another operation on the resource is in progress
		"InvalidOperation.Conflict": true,
	}
	// Permanent codes are listed for documentation and for the 5xx override below: an
	// explicit permanent code wins over a 5xx status.
	permanentPrefixes = []string{
		"QuotaExceed", "Invalid", "IncorrectInstanceStatus", "IncorrectImageStatus",
		"ImageUsingByInstance", "SignatureDoesNotMatch", "IncompleteSignature",
		"Forbidden", "MissingParameter", "SnapshotCreatedImage", "SnapshotCreatedDisk",
		"InstanceLockedForSecurity", "OperationDenied", "IdempotenceParamNotMatch",
		"DestinationRegion.NotFound", "RegionNotSupportCopy", "IncorrectDestinationRegion",
	}
	notFoundCodes = map[string]bool{
		"InvalidImageId.NotFound":    true,
		"InvalidInstanceId.NotFound": true,
		"InvalidSnapshotId.NotFound": true,
		"InvalidImageId.NotExist":    true,
		// TagResources on a resource that is gone.
		"InvalidResourceId.NotFound": true,
	}
)

func hasPrefix(code string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return false
}

// IsThrottled reports a flow-control rejection (Throttling, Throttling.User, Throttling.Api…).
// The SDK never retries these (they are HTTP 400); the caller must back off.
func IsThrottled(err error) bool {
	return err != nil && hasPrefix(Code(err), throttlePrefixes)
}

// IsNotFound reports that the resource does not exist (InvalidImageId.NotFound, …).
func IsNotFound(err error) bool {
	return err != nil && notFoundCodes[Code(err)]
}

// IsRetryable reports whether the same call may succeed later: throttling, service
// unavailability, internal errors, any 5xx without a permanent code, and transport errors:
// connection refused or reset, an unexpected EOF, and per-request connect/read timeouts
// (the SDK's own http.Client timeout, which errors.Is also matches with
// context.DeadlineExceeded since it wraps it). Quota, validation, status and signature
// errors are permanent.
//
// The caller's own context ending is not retryable: context.Canceled anywhere in the
// chain, and a bare context.DeadlineExceeded that no transport error wraps (the adapter
// returns ctx.Err() as is when the invocation's context ends). A transport error cannot
// always say whether the request's own timeout or the caller's deadline fired; callers
// that hold the context use Retryable, which also checks ctx.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	code := Code(err)
	switch {
	case IsThrottled(err), retryableCodes[code]:
		return true
	case hasPrefix(code, permanentPrefixes):
		return false
	case httpStatus(err) >= 500:
		return true
	case httpStatus(err) > 0:
		return false
	}
	return isTransport(err)
}

// Retryable is IsRetryable for a caller holding the invocation's context: once ctx has
// ended nothing is retryable, whatever the error says, because the invocation is over.
func Retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && IsRetryable(err)
}

// IsTimeout reports a per-request timeout (connect or read) of one call, as opposed to the
// caller's context ending.
func IsTimeout(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if Code(err) == "SDK.TimeoutError" {
		return true
	}
	var ne net.Error
	return isTransport(err) && errors.As(err, &ne) && ne.Timeout()
}

// isTransport reports an error of the connection rather than of the service: a *url.Error
// (what http.Client returns for every transport failure, timeouts included), a net.Error,
// a reset/refused/aborted/broken connection, or a response cut short.
func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.As(err, &ue):
		return true
	case errors.As(err, &ne) && error(ne) != context.DeadlineExceeded:
		// context.DeadlineExceeded is itself a net.Error; alone it is the caller's deadline.
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// IsQuotaExceeded reports a quota refusal (QuotaExceed.Image, QuotaExceed.Snapshot,
// QuotaExceed.ImageCopy…): permanent for the run, and the next call in that region would
// be refused the same way.
func IsQuotaExceeded(err error) bool {
	return err != nil && strings.HasPrefix(Code(err), "QuotaExceed")
}

// IsDuplicateName reports InvalidImageName.Duplicated (CreateImage, CopyImage): an image
// of that name already exists in the region. Our names are deterministic, so the caller
// looks the image up and adopts it when its tags prove it ours.
func IsDuplicateName(err error) bool {
	return err != nil && Code(err) == "InvalidImageName.Duplicated"
}

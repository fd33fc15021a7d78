package ecs

import (
	"cmp"
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// readParams reads an RPC request's parameters: the URL query merged with a form body
// (the body wins, as in the SDK signer). It returns the query alone too (v3 signs it
// apart from the body) and the raw body.
func readParams(r *http.Request) (query, params url.Values, body []byte, aerr *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, nil, nil, errf(400, "InvalidParameter", "The request body could not be read: %v.", err)
	}
	if len(body) > maxBody {
		return nil, nil, nil, errf(400, "InvalidParameter", "The request body exceeds %d bytes.", maxBody)
	}
	query, err = url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, nil, errf(400, "InvalidParameter", "The query string is malformed: %v.", err)
	}
	form := url.Values{}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" && len(body) > 0 {
		if form, err = url.ParseQuery(string(body)); err != nil {
			return nil, nil, nil, errf(400, "InvalidParameter", "The form body is malformed: %v.", err)
		}
	}
	params = url.Values{}
	for k, v := range query {
		params[k] = v
	}
	for k, v := range form {
		params[k] = v
	}
	return query, params, body, nil
}

// RPCCall is one parsed RPC request, for the other RPC products of the local cloud
// (RDS) that sit behind the same gateway as ECS: same parameter encoding, same
// signatures (v1 query signature or ACS3-HMAC-SHA256), same credential store.
type RPCCall struct {
	Params  url.Values
	Action  string
	Version string
	Account string // the account of the signing key
	// Cred is the signing credential; a role's STS credential has Role set, and the
	// caller asks env.Authorize before serving.
	Cred core.Credential
	// SignatureErr is set when the signature did not verify; the caller refuses the call
	// when env.StrictSignatures is on.
	SignatureErr *RPCError
}

// RPCError is an RPC gateway error: HTTP status, code and message.
type RPCError struct {
	Status  int
	Code    string
	Message string
}

func (e *RPCError) Error() string { return e.Code + ": " + e.Message }

func toRPCError(e *apiError) *RPCError {
	if e == nil {
		return nil
	}
	return &RPCError{Status: e.Status, Code: e.Code, Message: e.Message}
}

// GatewayFault applies the fault the env's table holds for (service, action) as a gateway
// answers before any work: injected latency on the simulated clock, then throttling
// (Throttling.User with throttleStatus, 400 when 0) or a 5xx. It returns nil when the call
// goes on. ECS, ESS and RDS share it, so a fault looks the same on every RPC product.
func GatewayFault(ctx context.Context, env *core.Env, service, action string, throttleStatus int) *RPCError {
	f := env.Faults.Check(service, action)
	if f.Latency > 0 {
		if err := env.Clock.Sleep(ctx, f.Latency); err != nil {
			return &RPCError{Status: 500, Code: "InternalError", Message: "The request was cancelled."}
		}
	}
	switch f.Kind {
	case core.FaultThrottle:
		return &RPCError{Status: cmp.Or(throttleStatus, 400), Code: "Throttling.User", Message: "Request was denied due to user flow control."}
	case core.FaultError:
		status, code := cmp.Or(f.Status, 503), f.Code
		msg := "The request has failed due to a temporary failure of the server."
		if code == "" {
			code = "ServiceUnavailable"
			if status == 500 {
				code, msg = "InternalError", "The request processing has failed due to some unknown error."
			}
		}
		return &RPCError{Status: status, Code: code, Message: msg}
	}
	return nil
}

// ParseRPC reads and authenticates an RPC request exactly as the ECS endpoint does.
// A malformed request is an error; a bad signature is reported in SignatureErr.
func ParseRPC(env *core.Env, r *http.Request) (RPCCall, *RPCError) {
	query, params, body, aerr := readParams(r)
	if aerr != nil {
		return RPCCall{}, toRPCError(aerr)
	}
	gw := &Service{env: env, account: core.DefaultAccountID}
	q := &request{params: params, account: gw.account}
	call := RPCCall{Params: params, Action: params.Get("Action"), Version: params.Get("Version")}
	v3 := strings.HasPrefix(r.Header.Get("Authorization"), v3Algorithm)
	if v3 {
		if h := r.Header.Get("x-acs-action"); h != "" {
			call.Action = h
		}
		if h := r.Header.Get("x-acs-version"); h != "" {
			call.Version = h
		}
		call.SignatureErr = toRPCError(gw.verifyV3(r, query, body, q))
	} else {
		call.SignatureErr = toRPCError(gw.verifyV1(r.Method, params, q))
	}
	if call.Action == "" {
		return call, toRPCError(missing("Action"))
	}
	call.Account = q.account
	call.Cred = q.cred
	return call, nil
}

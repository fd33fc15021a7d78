package ecs

import (
	"net/http"
	"net/url"
	"strings"
)

// GatewayError is an error of the RPC gateway (signature, credentials), in the wire
// shape other RPC products of the local cloud return.
type GatewayError struct {
	Status        int
	Code, Message string
}

// Authenticate checks the signature (v1 query signature or v3 Authorization header) of an
// RPC request of any product served on this endpoint (ECS, ESS): params are the query
// merged with the form body, query the URL query alone and body the raw body. It returns
// the calling account. With env.StrictSignatures off, a mismatch is logged and accepted,
// as for ECS.
func (s *Service) Authenticate(r *http.Request, params, query url.Values, body []byte) (string, *GatewayError) {
	q := &request{params: params, account: s.account, action: params.Get("Action")}
	var aerr *apiError
	if strings.HasPrefix(r.Header.Get("Authorization"), v3Algorithm) {
		aerr = s.verifyV3(r, query, body, q)
	} else {
		aerr = s.verifyV1(r.Method, params, q)
	}
	if aerr != nil {
		if s.env.StrictSignatures {
			return "", &GatewayError{Status: aerr.Status, Code: aerr.Code, Message: aerr.Message}
		}
		s.env.Log.Warn("rpc: signature check failed, serving anyway (StrictSignatures off)", "action", q.action, "code", aerr.Code)
	}
	return q.account, nil
}

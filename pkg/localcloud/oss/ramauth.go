package oss

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// ramAction maps an OSS API call to its RAM action (multipart parts and completion are
// oss:PutObject, as in RAM's OSS action list).
var ramAction = map[string]string{
	"ListBuckets": "oss:ListBuckets", "PutBucket": "oss:PutBucket", "DeleteBucket": "oss:DeleteBucket",
	"GetBucketInfo": "oss:GetBucketInfo", "GetBucketLocation": "oss:GetBucketLocation",
	"ListObjects": "oss:ListObjects", "ListObjectsV2": "oss:ListObjects",
	"DeleteObjects": "oss:DeleteObject", "PutObject": "oss:PutObject", "CopyObject": "oss:PutObject",
	"GetObject": "oss:GetObject", "HeadObject": "oss:GetObject", "GetObjectMeta": "oss:GetObject",
	"DeleteObject":            "oss:DeleteObject",
	"InitiateMultipartUpload": "oss:PutObject", "UploadPart": "oss:PutObject", "CompleteMultipartUpload": "oss:PutObject",
	"AbortMultipartUpload": "oss:AbortMultipartUpload", "ListParts": "oss:ListParts",
	"ListMultipartUploads": "oss:ListMultipartUploads",
}

// authorize asks RAM about a call made with a role's STS credentials. Resources are
// acs:oss:*:{account}:{bucket} for bucket calls and acs:oss:*:{account}:{bucket}/{key}
// for object calls; CopyObject also needs oss:GetObject on its source. A refusal is
// OSS's 403 AccessDenied naming the action and resource.
func (s *Service) authorize(req *request, action string) *apiError {
	if req.cred.Role == "" || s.env.Authz == nil {
		return nil
	}
	ram, ok := ramAction[action]
	if !ok {
		ram = "oss:" + action
	}
	acct := req.cred.AccountID
	arn := fmt.Sprintf("acs:oss:*:%s:*", acct)
	switch {
	case req.bucket != "" && (req.hasKey && req.key != ""):
		arn = fmt.Sprintf("acs:oss:*:%s:%s/%s", acct, req.bucket, req.key)
	case req.bucket != "" && action == "DeleteObjects":
		arn = fmt.Sprintf("acs:oss:*:%s:%s/*", acct, req.bucket)
	case req.bucket != "":
		arn = fmt.Sprintf("acs:oss:*:%s:%s", acct, req.bucket)
	}
	checks := []core.AuthzRequest{{Cred: req.cred, Action: ram, Resources: []core.AuthzResource{{ARN: arn}}}}
	if action == "CopyObject" {
		src, _ := url.QueryUnescape(req.r.Header.Get("x-oss-copy-source"))
		src = strings.TrimPrefix(src, "/")
		checks = append(checks, core.AuthzRequest{Cred: req.cred, Action: "oss:GetObject",
			Resources: []core.AuthzResource{{ARN: fmt.Sprintf("acs:oss:*:%s:%s", acct, src)}}})
	}
	for _, c := range checks {
		if d := s.env.Authorize(c); d != nil {
			return &apiError{Status: http.StatusForbidden, Code: "AccessDenied",
				Message: "You have no right to access this resource because of RAM policy: " + d.Error(),
				EC:      "0003-00000801", BucketName: req.bucket}
		}
	}
	return nil
}

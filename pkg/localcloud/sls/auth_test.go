package sls_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

func TestSignature(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// cred returns the credential the client signs with.
		cred       func(f *fixture) core.Credential
		permissive bool
		wantStatus int32 // 0: success
		wantCode   string
	}{
		{name: "default key", cred: func(*fixture) core.Credential { return defaultCred() }},
		{
			name: "wrong secret",
			cred: func(*fixture) core.Credential {
				c := defaultCred()
				c.AccessKeySecret = "not-the-secret"
				return c
			},
			wantStatus: 401, wantCode: "SignatureNotMatch",
		},
		{
			name: "wrong secret, permissive",
			cred: func(*fixture) core.Credential {
				c := defaultCred()
				c.AccessKeySecret = "not-the-secret"
				return c
			},
			permissive: true,
		},
		{
			name: "unknown access key",
			cred: func(*fixture) core.Credential {
				return core.Credential{AccessKeyID: "LTAInobody", AccessKeySecret: "x"}
			},
			wantStatus: 401, wantCode: "Unauthorized",
		},
		{
			name: "sts",
			cred: func(f *fixture) core.Credential { return f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour) },
		},
		{
			name: "sts wrong token",
			cred: func(f *fixture) core.Credential {
				c := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
				c.SecurityToken = "CAISforged"
				return c
			},
			wantStatus: 401, wantCode: "Unauthorized",
		},
		{
			name: "sts without token",
			cred: func(f *fixture) core.Credential {
				c := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
				c.SecurityToken = ""
				return c
			},
			wantStatus: 401, wantCode: "Unauthorized",
		},
		{
			name: "sts expired",
			cred: func(f *fixture) core.Credential {
				c := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
				f.env.Clock.Advance(2 * time.Hour)
				return c
			},
			wantStatus: 401, wantCode: "Unauthorized",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.env.StrictSignatures = !tt.permissive
			c := localsls.NewSDKClient(f.addr, tt.cred(f))
			// A write with a body exercises Content-MD5 and Content-Type in the signature,
			// a read with a query string exercises the canonicalized resource.
			err := c.CreateLogStore(project, "signed", 7, 1, false, 0)
			if tt.wantStatus != 0 {
				wantCode(t, err, tt.wantStatus, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("create logstore: %v", err)
			}
			names, err := c.ListLogStoreV2(project, 0, 10, "None")
			if err != nil || len(names) != 1 || names[0] != "signed" {
				t.Fatalf("list logstores = %v, %v; want [signed]", names, err)
			}
		})
	}
}

func TestSignatureMismatchNamesServerStringToSign(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := localsls.NewSDKClient(f.addr, core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "bad"})
	_, err := c.GetLogStore(project, "x")
	e := slsError(t, err)
	if e.Code != "SignatureNotMatch" || !strings.Contains(e.Message, `GET\n`) || !strings.Contains(e.Message, "/logstores/x") {
		t.Fatalf("message should carry the server's string to sign: %s %s", e.Code, e.Message)
	}
}

func TestMalformedAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A V4-signed request is refused with a message that says why.
	c := localsls.NewSDKClient(f.addr, defaultCred())
	c.SetAuthVersion("v4")
	c.SetRegion("cn-hangzhou")
	_, err := c.ListLogStore(project)
	e := slsError(t, err)
	if e.HTTPCode != 401 || !strings.Contains(e.Message, "AuthV4") {
		t.Fatalf("v4: got %d %s %q", e.HTTPCode, e.Code, e.Message)
	}
}

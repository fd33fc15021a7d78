package chaos

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// audit sits in front of the local cloud's HTTP endpoint. It is the cloud's side of two
// things the product must not be trusted to report:
//   - every DeleteImage that reaches the cloud is judged against the state at that moment
//     (held, in use, unmanaged, mid-copy, newest restorable, kept by the rules);
//   - kills: after the N-th request of a doomed invocation, nothing it sends reaches the
//     cloud any more (the connection drops), as if its process died at that line; for the
//     real binaries the process itself is killed.
type audit struct {
	srv  *localcloud.Server
	sc   *Scenario
	kill func(accessKey string) // binaries: kill the process holding this key

	mu          sync.Mutex
	invs        map[string]*invState // by STS access key id
	armed       []int                // kills waiting for the next new invocation (binaries)
	seen        map[string]ecs.Image
	violations  []Violation
	deleted     map[string]bool // image ids the product deleted
	modelNow    func() time.Time
	regions     []string
	policyRegs  map[string]bool
	killedCount int
}

type invState struct {
	count, killAfter int
	killed           bool
	onKill           func() // in-process: cancel the handler's context, cut its log
}

func newAudit(srv *localcloud.Server, sc *Scenario) *audit {
	a := &audit{srv: srv, sc: sc, invs: map[string]*invState{}, seen: map[string]ecs.Image{}, deleted: map[string]bool{},
		policyRegs: map[string]bool{}}
	a.regions = append(a.regions, sc.Sources...)
	for _, d := range sc.Destinations {
		a.regions = append(a.regions, d.Region)
	}
	for _, r := range a.regions {
		a.policyRegs[r] = true
	}
	a.modelNow = srv.Env.Clock.Now
	return a
}

// register tells the audit about an in-process invocation's credentials.
func (a *audit) register(ak string, killAfter int, onKill func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invs[ak] = &invState{killAfter: killAfter, onKill: onKill}
}

func (a *audit) wasKilled(ak string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.invs[ak]
	return st != nil && st.killed
}

// arm makes the next new invocation (binaries: the next unknown STS key) die after n
// requests.
func (a *audit) arm(n int) {
	a.mu.Lock()
	a.armed = append(a.armed, n)
	a.mu.Unlock()
}

func (a *audit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_localcloud/") {
		a.srv.ServeHTTP(w, r)
		return
	}
	params := ecsParams(r)
	ak := accessKeyOf(r, params)
	if strings.HasPrefix(ak, "STS.") {
		a.mu.Lock()
		st := a.invs[ak]
		if st == nil {
			st = &invState{}
			if a.kill != nil && len(a.armed) > 0 {
				st.killAfter, a.armed = a.armed[0], a.armed[1:]
			}
			a.invs[ak] = st
		}
		st.count++
		doomed := st.killed || (st.killAfter > 0 && st.count >= st.killAfter)
		first := doomed && !st.killed
		if first {
			st.killed = true
			a.killedCount++
		}
		a.mu.Unlock()
		if doomed {
			if first {
				if st.onKill != nil {
					st.onKill()
				}
				if a.kill != nil {
					go a.kill(ak)
				}
			}
			dropConnection(w)
			return
		}
		if params.Get("Action") == "DeleteImage" {
			a.judgeDelete(w, r, params)
			return
		}
	}
	a.srv.ServeHTTP(w, r)
}

// judgeDelete serves a product's DeleteImage and, if the image is gone afterwards, checks
// that it was deletable when the request arrived.
func (a *audit) judgeDelete(w http.ResponseWriter, r *http.Request, params url.Values) {
	region, id := params.Get("RegionId"), params.Get("ImageId")
	st := a.observe()
	var before *ecs.Image
	for i := range st.images {
		if st.images[i].ID == id && st.images[i].RegionID == region {
			before = &st.images[i]
		}
	}
	reason := ""
	if before != nil {
		reason = a.why(*before, st)
	}
	a.srv.ServeHTTP(w, r)
	if before == nil {
		return
	}
	for _, im := range a.srv.ECS.Images(region) {
		if im.ID == id {
			return // still there: refused or not yet
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deleted[id] = true
	if reason != "" {
		a.violations = append(a.violations, Violation{Invariant: InvNoBadDelete,
			Detail: "deleted " + id + " in " + region + " (" + before.Status + ", instance " + before.Tags["ecs-dr:source-instance"] + "): " + reason})
	}
}

// why returns the reason im must not be deleted now ("" if it may be).
func (a *audit) why(im ecs.Image, st cloudView) string {
	if p := protection(im, a.sc.PolicyName, a.policyRegs, st.inUse, st.images); p != "" {
		return p
	}
	if im.Status != "Available" {
		return ""
	}
	rule, _ := a.sc.RuleFor(im.RegionID)
	var group []ecs.Image
	for _, o := range st.images {
		if o.Status == "Available" && ours(o, a.sc.PolicyName) && groupKey(o) == groupKey(im) {
			group = append(group, o)
		}
	}
	a.mu.Lock()
	seen := maps.Clone(a.seen) // observe writes it from other requests
	a.mu.Unlock()
	if why, ok := keptByRule(group, rule, a.modelNow(), a.sc.Location(), seen)[im.ID]; ok {
		if why == "newest" {
			return "the newest restorable image of its instance in the region"
		}
		return "kept by the retention rules (" + why + ")"
	}
	return ""
}

// cloudView is the state of the scenario's regions at one moment.
type cloudView struct {
	images []ecs.Image
	inUse  map[string]bool
}

// observe reads the cloud's state and remembers every image it ever saw (lineage and
// ownership of images deleted later).
func (a *audit) observe() cloudView {
	v := cloudView{inUse: map[string]bool{}}
	for _, r := range allRegions {
		v.images = append(v.images, a.srv.ECS.Images(r)...)
		for _, in := range a.srv.ECS.Instances(r) {
			if in.ImageID != "" {
				v.inUse[r+"/"+in.ImageID] = true
			}
		}
	}
	a.mu.Lock()
	for _, im := range v.images {
		if old, ok := a.seen[im.ID]; ok && ours(old, a.sc.PolicyName) && !ours(im, a.sc.PolicyName) {
			im.Tags = old.Tags // keep the lineage of an image re-tagged by hand
		}
		a.seen[im.ID] = im
	}
	a.mu.Unlock()
	return v
}

// allRegions are the regions the chaos fleet and policies use.
var allRegions = []string{"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1"}

// ecsParams returns the RPC parameters of an ECS request (query and form body); the body
// is put back for the service.
func ecsParams(r *http.Request) url.Values {
	q := r.URL.Query()
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if err == nil {
			if f, err := url.ParseQuery(string(b)); err == nil {
				for k, v := range f {
					q[k] = append(q[k], v...)
				}
			}
		}
	}
	return q
}

// accessKeyOf finds the access key id of a request: ECS RPC AccessKeyId, OSS "OSS ak:sig"
// or "OSS4-HMAC-SHA256 Credential=ak/...", SLS "LOG ak:sig".
func accessKeyOf(r *http.Request, params url.Values) string {
	if ak := params.Get("AccessKeyId"); ak != "" {
		return ak
	}
	auth := r.Header.Get("Authorization")
	for _, p := range []string{"OSS ", "LOG "} {
		if rest, ok := strings.CutPrefix(auth, p); ok {
			ak, _, _ := strings.Cut(rest, ":")
			return ak
		}
	}
	if i := strings.Index(auth, "Credential="); i >= 0 {
		ak, _, _ := strings.Cut(auth[i+len("Credential="):], "/")
		return ak
	}
	if ak := r.URL.Query().Get("OSSAccessKeyId"); ak != "" {
		return ak
	}
	return ""
}

// dropConnection ends the request without an answer, as a dead process's socket does.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

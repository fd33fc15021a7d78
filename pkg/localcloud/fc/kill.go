package fc

import "net/http"

// trackKey remembers which instance works on the invocation whose role credentials are
// in h, until the returned func is called.
func (r *Runtime) trackKey(h map[string][]string, in *instance) (untrack func()) {
	ak := ""
	if v := h[http.CanonicalHeaderKey("x-fc-access-key-id")]; len(v) > 0 {
		ak = v[0]
	}
	if ak == "" {
		return func() {}
	}
	r.mu.Lock()
	if r.byKey == nil {
		r.byKey = map[string]*instance{}
	}
	r.byKey[ak] = in
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.byKey, ak)
		r.mu.Unlock()
	}
}

// KillByAccessKey kills (SIGKILL) the process working on the invocation that was given
// the STS access key id ak, as FC does to an instance that dies mid-invocation; the
// attempt ends as a crash. It reports whether such an invocation was in flight. The chaos
// runs use it to kill a real function process at a random point of its work.
func (r *Runtime) KillByAccessKey(ak string) bool {
	r.mu.Lock()
	in := r.byKey[ak]
	r.mu.Unlock()
	if in == nil {
		return false
	}
	in.kill()
	return true
}

package sls

import (
	"net/http"
	"slices"
	"strings"
)

// docKind describes a JSON resource stored as sent: dashboards (/dashboards) and alerts,
// which the v0.1.124 SDK manages as jobs of type "Alert" (/jobs).
type docKind struct {
	noun         string // action suffix: Dashboard, Alert
	nameField    string // the body field that names the resource
	notExist     string // 404 code
	alreadyExist string // 400 code
	jobs         bool   // stored in project.jobs (status, enable/disable) rather than dashboards
}

var (
	dashboardKind = docKind{noun: "Dashboard", nameField: "dashboardName", notExist: "DashboardNotExist", alreadyExist: "DashboardAlreadyExist"}
	alertKind     = docKind{noun: "Alert", nameField: "name", notExist: "JobNotExist", alreadyExist: "JobAlreadyExist", jobs: true}
)

func (s *Service) matchDocs(m string, rest []string, k docKind, notSupported *apiError) (route, []string, *apiError) {
	h := func(f func(http.ResponseWriter, *http.Request, *call, docKind)) func(http.ResponseWriter, *http.Request, *call) {
		return func(w http.ResponseWriter, r *http.Request, c *call) { f(w, r, c, k) }
	}
	switch {
	case len(rest) == 0 && m == http.MethodPost:
		return route{"Create" + k.noun, true, h(s.createDoc)}, rest, nil
	case len(rest) == 0 && m == http.MethodGet:
		return route{"List" + k.noun, true, h(s.listDocs)}, rest, nil
	case len(rest) == 1 && m == http.MethodGet:
		return route{"Get" + k.noun, true, h(s.getDoc)}, rest, nil
	case len(rest) == 1 && m == http.MethodPut:
		return route{"Update" + k.noun, true, h(s.updateDoc)}, rest, nil
	case len(rest) == 1 && m == http.MethodDelete:
		return route{"Delete" + k.noun, true, h(s.deleteDoc)}, rest, nil
	}
	return route{}, nil, notSupported
}

func (k docKind) errNotExist(name string) *apiError {
	return errf(404, k.notExist, "%s %s does not exist", strings.ToLower(k.noun), name)
}

func (p *project) docs(k docKind) map[string]*document {
	if k.jobs {
		return p.jobs
	}
	return p.dashboards
}

// validateDoc checks the body of a create or update and returns the resource name.
func validateDoc(body map[string]any, k docKind) (string, *apiError) {
	name, _ := body[k.nameField].(string)
	if !docNameRE.MatchString(name) {
		return "", errf(400, "ParameterInvalid", "%s %q is invalid: 2-128 letters, digits, '-' and '_', starting with a letter or digit", k.nameField, name)
	}
	if k.jobs {
		if t, ok := body["type"]; ok && t != "Alert" {
			return "", errf(400, "ParameterInvalid", "job type %v is not supported; only Alert", t)
		}
		for _, f := range []string{"configuration", "schedule"} {
			if v, ok := body[f].(map[string]any); !ok || v == nil {
				return "", errf(400, "ParameterInvalid", "alert %s: %s is required", name, f)
			}
		}
	} else if ch, ok := body["charts"]; ok && ch != nil {
		if _, ok := ch.([]any); !ok {
			return "", errf(400, "ParameterInvalid", "dashboard %s: charts must be an array", name)
		}
	}
	return name, nil
}

func (s *Service) createDoc(w http.ResponseWriter, _ *http.Request, c *call, k docKind) {
	var body map[string]any
	if e := decodeJSON(c.body, &body); e != nil {
		replyErr(w, e)
		return
	}
	name, e := validateDoc(body, k)
	if e != nil {
		replyErr(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	docs := p.docs(k)
	if _, ok := docs[name]; ok {
		replyErr(w, errf(400, k.alreadyExist, "%s %s already exists", strings.ToLower(k.noun), name))
		return
	}
	if k.jobs {
		body["type"] = "Alert"
		if st, _ := body["status"].(string); st != "DISABLED" {
			body["status"] = "ENABLED"
		}
	}
	now := s.env.Clock.Now()
	docs[name] = &document{body: body, created: now, modified: now}
	reply(w, 200, nil)
}

func (s *Service) getDoc(w http.ResponseWriter, _ *http.Request, c *call, k docKind) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	d := p.docs(k)[c.parts[0]]
	if d == nil {
		replyErr(w, k.errNotExist(c.parts[0]))
		return
	}
	reply(w, 200, d.view(k))
}

// view is the document as GET returns it: the stored body plus times (alerts: createTime
// and lastModifiedTime, unix seconds, as the SDK's Alert has them).
func (d *document) view(k docKind) map[string]any {
	out := make(map[string]any, len(d.body)+2)
	for key, v := range d.body {
		out[key] = v
	}
	if k.jobs {
		out["createTime"] = d.created.Unix()
		out["lastModifiedTime"] = d.modified.Unix()
	}
	return out
}

func (s *Service) updateDoc(w http.ResponseWriter, r *http.Request, c *call, k docKind) {
	name := c.parts[0]
	action := r.URL.Query().Get("action")
	if k.jobs && action != "" && action != "enable" && action != "disable" {
		replyErr(w, errf(400, "ParameterInvalid", "action %q is not enable or disable", action))
		return
	}
	var body map[string]any
	if !(k.jobs && action != "") {
		if e := decodeJSON(c.body, &body); e != nil {
			replyErr(w, e)
			return
		}
		if _, ok := body[k.nameField]; !ok {
			body[k.nameField] = name
		}
		got, e := validateDoc(body, k)
		if e != nil {
			replyErr(w, e)
			return
		}
		if got != name {
			replyErr(w, errf(400, "ParameterInvalid", "%s %q does not match the path (%q)", k.nameField, got, name))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	d := p.docs(k)[name]
	if d == nil {
		replyErr(w, k.errNotExist(name))
		return
	}
	d.modified = s.env.Clock.Now()
	switch {
	case k.jobs && action == "enable":
		d.body["status"] = "ENABLED"
	case k.jobs && action == "disable":
		d.body["status"] = "DISABLED"
	default:
		if k.jobs {
			body["type"] = "Alert"
			if _, ok := body["status"]; !ok {
				body["status"] = d.body["status"]
			}
		}
		d.body = body
	}
	reply(w, 200, nil)
}

func (s *Service) deleteDoc(w http.ResponseWriter, _ *http.Request, c *call, k docKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	docs := p.docs(k)
	if _, ok := docs[c.parts[0]]; !ok {
		replyErr(w, k.errNotExist(c.parts[0]))
		return
	}
	delete(docs, c.parts[0])
	reply(w, 200, nil)
}

// listDocs: dashboards take dashboardName/offset/size from the query or, as the v0.1.124
// SDK sends them, from request headers; jobs take jobName/offset/size from the query.
func (s *Service) listDocs(w http.ResponseWriter, r *http.Request, c *call, k docKind) {
	q := r.URL.Query()
	param := func(name string) string {
		if v := q.Get(name); v != "" {
			return v
		}
		if !k.jobs {
			return r.Header.Get(name)
		}
		return ""
	}
	filterKey := "dashboardName"
	if k.jobs {
		filterKey = "jobName"
	}
	offset, size, e := paging(param("offset"), param("size"), 500)
	if e != nil {
		replyErr(w, e)
		return
	}
	filter := param(filterKey)
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	docs := p.docs(k)
	var names []string
	for n := range docs {
		if strings.Contains(n, filter) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	page := window(names, offset, size)
	if k.jobs {
		results := make([]map[string]any, len(page))
		for i, n := range page {
			results[i] = docs[n].view(k)
		}
		reply(w, 200, map[string]any{"total": len(names), "count": len(page), "results": results})
		return
	}
	items := make([]map[string]any, len(page))
	for i, n := range page {
		display, _ := docs[n].body["displayName"].(string)
		items[i] = map[string]any{"dashboardName": n, "displayName": display}
	}
	reply(w, 200, map[string]any{"total": len(names), "count": len(page), "dashboards": page, "dashboardItems": items})
}

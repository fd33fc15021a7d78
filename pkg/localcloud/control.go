package localcloud

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// control serves the local cloud's own endpoints, apart from the emulated APIs:
//
//	GET    /_localcloud/health                       liveness
//	GET    /_localcloud/clock                        {"now": RFC3339, "speed": n}
//	POST   /_localcloud/clock/advance?by=90m         advance the simulated clock (fires due work)
//	GET    /_localcloud/faults                       installed fault rules
//	PUT    /_localcloud/faults?service=ecs&action=CreateImage   body: core.FaultRule JSON
//	DELETE /_localcloud/faults                       clear every rule
//	GET    /_localcloud/ecs/images?region=cn-hangzhou        every image, all statuses
//	GET    /_localcloud/ecs/snapshots?region=cn-hangzhou
//	GET    /_localcloud/fc/invocations               every function invocation attempt
//	POST   /_localcloud/fc/invoke?function=NAME      body: event; synchronous invoke
//	GET    /_localcloud/eventbridge/deliveries       every event delivery attempt
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.Method + " " + r.URL.Path {
	case "GET /_localcloud/health":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "now": s.Env.Clock.Now()})
	case "GET /_localcloud/clock":
		writeJSON(w, http.StatusOK, map[string]any{"now": s.Env.Clock.Now(), "speed": s.Env.Clock.Speed()})
	case "POST /_localcloud/clock/advance":
		d, err := time.ParseDuration(q.Get("by"))
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "by: want a non-negative Go duration such as 90m"})
			return
		}
		s.Env.Clock.Advance(d)
		writeJSON(w, http.StatusOK, map[string]any{"now": s.Env.Clock.Now()})
	case "GET /_localcloud/faults":
		writeJSON(w, http.StatusOK, s.Env.Faults.Rules())
	case "PUT /_localcloud/faults":
		var rule core.FaultRule
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err := json.Unmarshal(body, &rule); err != nil || q.Get("service") == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want ?service=&action= and a FaultRule JSON body"})
			return
		}
		action := q.Get("action")
		if action == "" {
			action = "*"
		}
		s.Env.Faults.Set(q.Get("service"), action, rule)
		writeJSON(w, http.StatusOK, s.Env.Faults.Rules())
	case "DELETE /_localcloud/faults":
		s.Env.Faults.Clear()
		w.WriteHeader(http.StatusNoContent)
	case "GET /_localcloud/ecs/images":
		writeJSON(w, http.StatusOK, s.ECS.Images(q.Get("region")))
	case "GET /_localcloud/ecs/snapshots":
		writeJSON(w, http.StatusOK, s.ECS.Snapshots(q.Get("region")))
	case "GET /_localcloud/fc/invocations":
		writeJSON(w, http.StatusOK, s.FC.Invocations())
	case "POST /_localcloud/fc/invoke":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 6<<20))
		inv, err := s.FC.Invoke(r.Context(), q.Get("function"), body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, inv)
	case "GET /_localcloud/eventbridge/deliveries":
		writeJSON(w, http.StatusOK, s.Bridge.Deliveries())
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control endpoint " + r.Method + " " + r.URL.Path})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

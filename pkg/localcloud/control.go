package localcloud

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
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
//	PUT    /_localcloud/eventbridge/delivery         body: {"duplicate":0.5,"drop":0,"reorder":0,
//	                                                 "delay":"2s","maxRetries":3,"seed":1}
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
	case "PUT /_localcloud/eventbridge/delivery":
		d, err := decodeDelivery(r.Body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.Bridge.SetDelivery(d)
		writeJSON(w, http.StatusOK, map[string]any{"delivery": d})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control endpoint " + r.Method + " " + r.URL.Path})
	}
}

// decodeDelivery reads the EventBridge delivery faults; probabilities are 0..1.
func decodeDelivery(body io.Reader) (eventbridge.Delivery, error) {
	var in struct {
		Duplicate, Drop, Reorder float64
		Delay                    string
		MaxRetries               int
		Seed                     int64
	}
	dec := json.NewDecoder(io.LimitReader(body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return eventbridge.Delivery{}, fmt.Errorf("delivery: %w", err)
	}
	for name, p := range map[string]float64{"duplicate": in.Duplicate, "drop": in.Drop, "reorder": in.Reorder} {
		if p < 0 || p > 1 {
			return eventbridge.Delivery{}, fmt.Errorf("delivery: %s: %g is not a probability in [0,1]", name, p)
		}
	}
	d := eventbridge.Delivery{Duplicate: in.Duplicate, Drop: in.Drop, Reorder: in.Reorder, MaxRetries: in.MaxRetries, Seed: in.Seed}
	if in.Delay != "" {
		v, err := time.ParseDuration(in.Delay)
		if err != nil || v < 0 {
			return eventbridge.Delivery{}, fmt.Errorf("delivery: delay %q is not a non-negative Go duration", in.Delay)
		}
		d.Delay = v
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

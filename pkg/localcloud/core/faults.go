package core

import (
	"math/rand"
	"sync"
	"time"
)

// FaultRule configures injected faults for one service action ("*" matches any action).
type FaultRule struct {
	// QPS throttles calls above this many per second of Faults.Now (0 = unlimited). The
	// service answers with its throttling error (ECS: Throttling.User, 400). NewEnv sets
	// Faults.Now to the simulated clock: callers back off on that clock (Clock.Sleep), and
	// the FC runtime moves a manual clock on while a real process works.
	QPS int `json:"qps,omitempty"`
	// ErrorRate is the probability (0..1) of answering with a 5xx.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// ErrorStatus is the HTTP status used for ErrorRate and FailNext faults (default 503).
	ErrorStatus int `json:"errorStatus,omitempty"`
	// ErrorCode overrides the error code of injected errors (default: the service's
	// ServiceUnavailable / InternalError code for the status).
	ErrorCode string `json:"errorCode,omitempty"`
	// FailNext makes the next N calls fail with ErrorStatus/ErrorCode, then stops.
	FailNext int `json:"failNext,omitempty"`
	// Latency is added (in simulated time, Clock.Sleep) before the call is served.
	Latency time.Duration `json:"latency,omitempty"`
}

// FaultKind says what the service must do with a request.
type FaultKind int

const (
	FaultNone FaultKind = iota
	FaultThrottle
	FaultError
)

// Fault is the decision for one request. Latency applies whatever the kind.
type Fault struct {
	Kind    FaultKind
	Status  int
	Code    string
	Latency time.Duration
}

// Faults holds fault rules per service and action and decides per request.
type Faults struct {
	// Now is the time source of QPS windows (time.Now for a bare NewFaults; NewEnv sets
	// the simulated clock); replace it only before use.
	Now     func() time.Time
	mu      sync.Mutex
	rules   map[string]*FaultRule // key service/action
	windows map[string]*qpsWindow
	rnd     *rand.Rand
}

type qpsWindow struct {
	second int64
	count  int
}

// NewFaults returns an injector with no rules; seed makes error rates reproducible.
func NewFaults(seed int64) *Faults {
	return &Faults{Now: time.Now, rules: map[string]*FaultRule{}, windows: map[string]*qpsWindow{}, rnd: rand.New(rand.NewSource(seed))}
}

// Set installs the rule for service/action (action "*" for every action of the service).
func (f *Faults) Set(service, action string, r FaultRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := r
	f.rules[service+"/"+action] = &cp
}

// Clear removes every rule.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = map[string]*FaultRule{}
	f.windows = map[string]*qpsWindow{}
}

// Rules returns a copy of the installed rules keyed "service/action".
func (f *Faults) Rules() map[string]FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]FaultRule, len(f.rules))
	for k, v := range f.rules {
		out[k] = *v
	}
	return out
}

// Check decides the fate of one call of service/action. The exact action's rule wins
// over the service's "*" rule.
func (f *Faults) Check(service, action string) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := service + "/" + action
	r, ok := f.rules[key]
	if !ok {
		key = service + "/*"
		r, ok = f.rules[key]
	}
	if !ok {
		return Fault{}
	}
	out := Fault{Latency: r.Latency}
	status := r.ErrorStatus
	if status == 0 {
		status = 503
	}
	if r.FailNext > 0 {
		r.FailNext--
		out.Kind, out.Status, out.Code = FaultError, status, r.ErrorCode
		return out
	}
	if r.QPS > 0 {
		sec := f.Now().Unix()
		w := f.windows[service+"/"+action]
		if w == nil {
			w = &qpsWindow{}
			f.windows[service+"/"+action] = w
		}
		if w.second != sec {
			w.second, w.count = sec, 0
		}
		w.count++
		if w.count > r.QPS {
			out.Kind = FaultThrottle
			return out
		}
	}
	if r.ErrorRate > 0 && f.rnd.Float64() < r.ErrorRate {
		out.Kind, out.Status, out.Code = FaultError, status, r.ErrorCode
	}
	return out
}

package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Summary aggregates results.
type Summary struct {
	Scenarios, Binary, Errors, Invocations int
	Faults                                 map[string]int
	ByInvariant                            map[string]int
	Failed                                 []*Result // scenarios with violations or errors
	Wall                                   time.Duration
}

// Add counts r.
func (s *Summary) Add(r *Result) {
	if s.Faults == nil {
		s.Faults, s.ByInvariant = map[string]int{}, map[string]int{}
	}
	s.Scenarios++
	if r.Binary {
		s.Binary++
	}
	s.Invocations += r.Invocations
	for k, n := range r.Faults {
		s.Faults[k] += n
	}
	for _, v := range r.Violations {
		s.ByInvariant[v.Invariant]++
	}
	if r.Err != nil {
		s.Errors++
	}
	if r.Err != nil || len(r.Violations) > 0 {
		s.Failed = append(s.Failed, r)
	}
}

// Violations is the total number of violations.
func (s *Summary) Violations() int {
	n := 0
	for _, c := range s.ByInvariant {
		n += c
	}
	return n
}

// Repro is the one command that replays a scenario.
func Repro(r *Result) string {
	cmd := fmt.Sprintf("go run ./scripts/chaos -seed %d -n 1", r.Seed)
	if r.Binary {
		cmd = "make build && " + cmd + " -binary-share 1"
	}
	return cmd + " -v"
}

// Print writes the counts and, per failed scenario, its violations and the command that
// reproduces it.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "chaos: %d scenarios (%d through the real binaries under the local FC runtime), %d invocations, %s wall\n",
		s.Scenarios, s.Binary, s.Invocations, s.Wall.Round(time.Second))
	var fs []string
	total := 0
	for _, k := range AllKinds {
		fs = append(fs, fmt.Sprintf("%s %d", k, s.Faults[k]))
		total += s.Faults[k]
	}
	fmt.Fprintf(w, "faults injected: %d (%s)\n", total, strings.Join(fs, ", "))
	var vs []string
	for _, k := range Invariants {
		vs = append(vs, fmt.Sprintf("%s %d", k, s.ByInvariant[k]))
	}
	fmt.Fprintf(w, "violations: %d (%s); scenarios that could not run: %d\n", s.Violations(), strings.Join(vs, ", "), s.Errors)
	for _, r := range s.Failed {
		fmt.Fprintf(w, "\nseed %d (binary %v): reproduce with: %s\n", r.Seed, r.Binary, Repro(r))
		if r.Err != nil {
			fmt.Fprintf(w, "  error: %v\n", r.Err)
		}
		for i, v := range r.Violations {
			if i == 10 {
				fmt.Fprintf(w, "  ... and %d more\n", len(r.Violations)-10)
				break
			}
			fmt.Fprintf(w, "  %s\n", v)
		}
	}
}

// IsBinary says whether scenario i of a run goes through the real binaries: every
// round(1/share)-th one, so a share of 0.05 is one in twenty.
func IsBinary(i int, share float64) bool {
	if share <= 0 {
		return false
	}
	if share >= 1 {
		return true
	}
	every := int(1/share + 0.5)
	return i%every == every-1
}

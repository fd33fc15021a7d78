package sconfig

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// maxTriggers is FC's limit of triggers per function ("You can create up to 10 triggers
// for a single function", FC trigger management).
const maxTriggers = 10

// checkShards checks a function's timers against FC's trigger limit and checks that
// sharded timers cover their fleet: for every kind of run (action and mode) with timers
// sharded "k/N", every k of 0..N-1 has a timer, no k twice, and one N only. A missing
// shard would leave its instances unjudged every day, silently.
func checkShards(path string, triggers []Trigger, errs *problems) {
	if len(triggers) > maxTriggers {
		errs.add(path+".triggers", "%d triggers: FC allows at most %d per function", len(triggers), maxTriggers)
	}
	type run struct{ action, mode string }
	shards := map[run]map[int][]int{} // run -> N -> ks
	for i, t := range triggers {
		if t.Type != TriggerTimer || strings.TrimSpace(t.Payload) == "" || !t.Enabled {
			continue
		}
		var p struct {
			Action string `json:"action"`
			Mode   string `json:"mode"`
			Shard  string `json:"shard"`
		}
		if err := json.Unmarshal([]byte(t.Payload), &p); err != nil {
			continue // the function reports its own payload problems; only shards matter here
		}
		s, err := policy.ParseShard(p.Shard)
		if err != nil {
			errs.add(fmt.Sprintf("%s.triggers[%d].triggerConfig.payload", path, i), "%v", err)
			continue
		}
		if s.All() {
			continue
		}
		r := run{p.Action, p.Mode}
		if shards[r] == nil {
			shards[r] = map[int][]int{}
		}
		shards[r][s.Count] = append(shards[r][s.Count], s.Index)
	}
	for r, byN := range shards {
		what := fmt.Sprintf("timers of action %q", r.action)
		if r.mode != "" {
			what += fmt.Sprintf(" mode %q", r.mode)
		}
		if len(byN) > 1 {
			errs.add(path+".triggers", "%s use different shard counts %v: use one N for all", what, slices.Sorted(maps.Keys(byN)))
			continue
		}
		for n, ks := range byN {
			slices.Sort(ks)
			var missing, twice []int
			for k := range n {
				switch c := count(ks, k); {
				case c == 0:
					missing = append(missing, k)
				case c > 1:
					twice = append(twice, k)
				}
			}
			if len(missing) > 0 {
				errs.add(path+".triggers", "%s cover shards %v of %d: shards %v have no timer, so their instances would never be handled", what, ks, n, missing)
			}
			if len(twice) > 0 {
				errs.add(path+".triggers", "%s: shards %v of %d have more than one timer", what, twice, n)
			}
		}
	}
}

func count(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

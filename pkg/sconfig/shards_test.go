package sconfig

import (
	"fmt"
	"strings"
	"testing"
)

func timers(payloads ...string) []Trigger {
	var out []Trigger
	for i, p := range payloads {
		out = append(out, Trigger{Name: fmt.Sprintf("t%d", i), Type: TriggerTimer, Cron: "0 0 4 * * *", Payload: p, Enabled: true})
	}
	return out
}

func TestCheckShards(t *testing.T) {
	t.Parallel()
	shard := func(action, k string) string { return `{"action":"` + action + `","shard":"` + k + `"}` }
	for _, tc := range []struct {
		name     string
		triggers []Trigger
		want     string // "" : no problem
	}{
		{"complete", timers(shard("cleanup", "0/2"), shard("cleanup", "1/2"), `{"action":"cleanup"}`), ""},
		{"two runs, each complete", timers(shard("reconcile", "0/2"), shard("reconcile", "1/2"), `{"action":"reconcile","mode":"pending"}`), ""},
		{"missing shard", timers(shard("cleanup", "0/4"), shard("cleanup", "1/4"), shard("cleanup", "3/4")), "shards [2] have no timer"},
		{"twice", timers(shard("cleanup", "0/2"), shard("cleanup", "1/2"), shard("cleanup", "1/2")), "shards [1] of 2 have more than one timer"},
		{"mixed counts", timers(shard("cleanup", "0/2"), shard("cleanup", "1/2"), shard("cleanup", "0/4")), "different shard counts [2 4]"},
		{"bad shard", timers(shard("cleanup", "4/4")), "k must be 0..3"},
		{"too many", timers(strings.Split(strings.Repeat(`{"action":"x"};`, 11), ";")[:11]...), "11 triggers: FC allows at most 10"},
	} {
		var errs problems
		checkShards("resources.cleanup.props", tc.triggers, &errs)
		got := fmt.Sprint(errs)
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: unexpected problems %v", tc.name, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s: problems %v, want one containing %q", tc.name, got, tc.want)
		}
	}
}

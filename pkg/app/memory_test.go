package app

import "testing"

func TestMemorySettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		env      map[string]string
		gc       int
		limitMiB int64
		sizeMB   int
	}{
		{"FC 256 MB: the guard", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "256"}, 50, 144, 256},
		{"a 48 MB budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "256", "DR_MEMORY_BUDGET_MB": "48"}, 50, 28, 256},
		{"larger budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "512", "DR_MEMORY_BUDGET_MB": "120"}, 50, 100, 512},
		{"the FC guard caps the budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "128", "DR_MEMORY_BUDGET_MB": "200"}, 50, 48, 128},
		{"small size keeps a floor", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "64"}, 50, 32, 64},
		{"tiny budget keeps a floor", map[string]string{"DR_MEMORY_BUDGET_MB": "20"}, 50, 16, 0},
		{"not on FC, no budget: no limit", map[string]string{}, 50, 0, 0},
		{"bad size", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "lots"}, 50, 0, 0},
		{"not on FC: the budget alone", map[string]string{"DR_MEMORY_BUDGET_MB": "48"}, 50, 28, 0},
		{"operator's GOGC wins", map[string]string{"GOGC": "200", "FC_FUNCTION_MEMORY_SIZE": "256"}, 0, 144, 256},
		{"operator's GOMEMLIMIT wins", map[string]string{"GOMEMLIMIT": "100MiB", "FC_FUNCTION_MEMORY_SIZE": "256"}, 50, 0, 256},
	} {
		s := memorySettings(func(k string) string { return c.env[k] })
		if s.GCPercent != c.gc || s.LimitBytes != c.limitMiB<<20 || s.MemorySizeM != c.sizeMB || s.Note == "" {
			t.Errorf("%s: %+v, want gc %d, limit %d MiB, size %d and a note", c.name, s, c.gc, c.limitMiB, c.sizeMB)
		}
	}
}

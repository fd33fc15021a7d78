package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePolicy: any document is either refused with an error (a *ValidationError for a
// well-formed document with bad fields) or gives a policy that validates, has sources and
// destinations, and survives a JSON round trip unchanged in meaning.
func FuzzParsePolicy(f *testing.F) {
	for _, p := range []string{
		filepath.Join("..", "..", "events", "policy.example.yaml"),
		filepath.Join("..", "app", "testdata", "cycle-policy.yaml"),
		filepath.Join("..", "app", "testdata", "invalid-policy.yaml"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"name":"p","sources":[{"region":"cn-hangzhou","instanceIds":["i-1"]}],"destinations":[{"region":"cn-beijing"}],"retention":{"source":{"keepLast":1},"destination":{"keepLast":1}}}`))
	f.Add([]byte("name: p\nslotInterval: 7h\ntimezone: Local\n"))
	f.Add([]byte("name: [\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) && len(ve.Problems) == 0 {
				t.Fatalf("validation error with no problem: %v", err)
			}
			return
		}
		if p == nil || len(p.Sources) == 0 || len(p.Destinations) == 0 {
			t.Fatalf("accepted a policy without sources or destinations: %+v", p)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy Validate refuses: %v", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		q, err := Parse(b)
		if err != nil {
			t.Fatalf("the JSON form of an accepted policy is refused: %v\n%s", err, b)
		}
		if q.Name != p.Name || len(q.Sources) != len(p.Sources) || len(q.Destinations) != len(p.Destinations) {
			t.Fatalf("round trip changed the policy: %+v -> %+v", p, q)
		}
	})
}

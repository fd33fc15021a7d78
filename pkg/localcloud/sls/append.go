package sls

import (
	"fmt"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// CollectAction names FC's log collection (Append) for fault injection.
const CollectAction = "CollectLogs"

// Append stores recs in project/logstore, in order, as a PutLogs would: the in-process
// path of the cloud's own writers (FC's log collection of function output), which have
// no network hop to lose a record on. The logstore must exist, as for PutLogs; a record
// with an empty content key is refused whole. An error fault on ("sls", CollectAction)
// makes the collection lose the records (the sabotage the demo's SLS invariant must catch).
func (s *Service) Append(projectName, logstoreName string, recs []Record) error {
	if f := s.env.Faults.Check("sls", CollectAction); f.Kind == core.FaultError || f.Kind == core.FaultThrottle {
		return fmt.Errorf("sls append %s/%s: injected fault for %s", projectName, logstoreName, CollectAction)
	}
	for i, r := range recs {
		if _, ok := r.Contents[""]; ok {
			return fmt.Errorf("sls append %s/%s: record %d has a content with an empty key", projectName, logstoreName, i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[projectName]
	if p == nil {
		return errProjectNotExist(projectName)
	}
	ls := p.logstores[logstoreName]
	if ls == nil {
		return errLogStoreNotExist(logstoreName)
	}
	for _, r := range recs {
		ls.records = append(ls.records, cloneRecord(r))
	}
	return nil
}

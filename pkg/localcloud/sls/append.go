package sls

import "fmt"

// Append stores recs in project/logstore, in order, as a PutLogs would: the in-process
// path of the cloud's own writers (FC's log collection of function output), which have
// no network hop to lose a record on. The logstore must exist, as for PutLogs; a record
// with an empty content key is refused whole.
func (s *Service) Append(projectName, logstoreName string, recs []Record) error {
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

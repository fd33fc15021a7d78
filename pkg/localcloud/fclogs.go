package localcloud

import (
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

// fcLogs is FC's log collection into the local SLS: the runtime hands over each output
// line of a function with a logConfig, and it is stored in that logstore in-process.
type fcLogs struct{ sls *sls.Service }

func (l fcLogs) AppendLogs(project, logstore string, entries []fc.LogEntry) error {
	recs := make([]sls.Record, len(entries))
	for i, e := range entries {
		recs[i] = sls.Record{Time: e.Time.UTC(), Topic: e.Topic, Source: e.Source, Contents: e.Contents}
	}
	return l.sls.Append(project, logstore, recs)
}

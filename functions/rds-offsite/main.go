// Command rds-offsite is the FC 3.0 (go1 runtime) function that copies ApsaraDB RDS backup
// files to an OSS bucket in the DR region, verifies them and applies their retention
// (timer trigger). It only wires configuration, clients and the runtime; the logic lives
// in pkg/offsite.
package main

import (
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
)

func main() {
	// GC percent and soft memory limit from FC's memory size, before any work (pkg/app/memory.go).
	app.TuneMemory(os.Getenv)
	// Configuration comes from the function's environment (s.yaml); credentials come from
	// the FC context of each invocation (the function's RAM role), never from a file.
	h := app.New(app.RDSOffsite, os.Getenv, os.Stdout)
	fc.Start(h.Handle)
}

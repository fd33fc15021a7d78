// Command fn is a test function for the local FC runtime: one binary whose behaviour is
// picked by the event, so the tests build it only once.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/simclock"
)

type event struct {
	Action string `json:"action"` // echo | error | panic | hang | exit | failUntil | simSleep | alloc
	Code   int    `json:"code"`   // exit: exit status; failUntil: first retry count that succeeds
	Say    string `json:"say"`    // printed to stdout (and stderr) before acting
	// Seconds: simSleep waits that many simulated seconds (DR_SIMULATED_CLOCK), ignoring ctx.
	Seconds int `json:"seconds"`
	// MB: alloc touches that many MB and keeps them until it returns (after Seconds of
	// wall time).
	MB int `json:"mb"`
}

// ballast keeps alloc's memory reachable.
var ballast [][]byte

func handle(ctx context.Context, raw json.RawMessage) (map[string]any, error) {
	var ev event
	_ = json.Unmarshal(raw, &ev) // events of other shapes (timer, EventBridge) just echo
	if ev.Say != "" {
		fmt.Println(ev.Say)
		fmt.Fprintln(os.Stderr, "stderr: "+ev.Say)
	}
	fctx, ok := fccontext.FromContext(ctx)
	if !ok {
		return nil, errors.New("no FcContext")
	}
	switch ev.Action {
	case "error":
		return nil, errors.New("boom")
	case "panic":
		panic("kaboom")
	case "hang":
		time.Sleep(time.Hour) // ignores ctx on purpose: the runtime must kill it
	case "exit":
		os.Exit(ev.Code)
	case "simSleep":
		m, err := mapping()
		if err != nil {
			return nil, err
		}
		_ = m.Sleep(context.Background(), time.Duration(ev.Seconds)*time.Second) // the runtime must kill it
	case "alloc":
		for range ev.MB {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			ballast = append(ballast, b)
		}
		time.Sleep(time.Duration(ev.Seconds) * time.Second)
		ballast = nil
		debug.FreeOSMemory() // the next invocation starts low: its peak shows the reset
	case "failUntil":
		if fctx.RetryCount < ev.Code {
			return nil, fmt.Errorf("attempt %d fails", fctx.RetryCount)
		}
	}
	deadline, _ := ctx.Deadline()
	simNow := ""
	if m, err := mapping(); err == nil {
		simNow = m.Now().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"simNow":         simNow,
		"simulatedClock": os.Getenv(simclock.EnvVar),
		"requestId":      fctx.RequestID,
		"functionName":   fctx.Function.Name,
		"handler":        fctx.Function.Handler,
		"memory":         fctx.Function.Memory,
		"timeout":        fctx.Function.Timeout,
		"qualifier":      fctx.Service.Qualifier,
		"region":         fctx.Region,
		"accountId":      fctx.AccountId,
		"retryCount":     fctx.RetryCount,
		"accessKeyId":    fctx.Credentials.AccessKeyId,
		"accessSecret":   fctx.Credentials.AccessKeySecret,
		"securityToken":  fctx.Credentials.SecurityToken,
		"deadlineMs":     deadline.UnixMilli(),
		"pid":            os.Getpid(),
		"event":          raw,
		"env": map[string]string{
			"FC_FUNCTION_NAME":             os.Getenv("FC_FUNCTION_NAME"),
			"FC_REGION":                    os.Getenv("FC_REGION"),
			"FC_ACCOUNT_ID":                os.Getenv("FC_ACCOUNT_ID"),
			"FC_FUNCTION_HANDLER":          os.Getenv("FC_FUNCTION_HANDLER"),
			"FC_FUNCTION_MEMORY_SIZE":      os.Getenv("FC_FUNCTION_MEMORY_SIZE"),
			"FC_TIMEOUT":                   os.Getenv("FC_TIMEOUT"),
			"FC_INSTANCE_ID":               os.Getenv("FC_INSTANCE_ID"),
			"FC_RUNTIME":                   os.Getenv("FC_RUNTIME"),
			"ALIBABA_CLOUD_ACCESS_KEY_ID":  os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"),
			"ALIBABA_CLOUD_SECURITY_TOKEN": os.Getenv("ALIBABA_CLOUD_SECURITY_TOKEN"),
			"MY_SETTING":                   os.Getenv("MY_SETTING"),
		},
	}, nil
}

// mapping is the current simulated clock: the runtime's file (re-read at every
// invocation, it follows a jump of the clock), else the cold start's variable.
func mapping() (simclock.Mapping, error) {
	if f := os.Getenv(simclock.EnvFile); f != "" {
		return simclock.ReadFile(f)
	}
	return simclock.Parse(os.Getenv(simclock.EnvVar))
}

func main() {
	fc.Start(handle)
}

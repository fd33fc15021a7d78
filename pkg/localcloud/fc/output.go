package fc

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// tailLines is how many of an instance's last output lines a crash record keeps.
const tailLines = 20

// maxLine caps a single buffered output line so a binary printing without newlines
// cannot grow memory without bound.
const maxLine = 64 << 10

// output receives an instance's stdout and stderr, forwards complete lines to the
// runtime's writer prefixed "[fn] ", and remembers the last lines for crash reports.
type output struct {
	mu     sync.Mutex
	dst    io.Writer
	prefix string
	tail   []string
	logs   *collector // nil: the function has no logConfig
}

func newOutput(dst io.Writer, fn string) *output {
	return &output{dst: dst, prefix: "[" + fn + "] "}
}

func (o *output) line(s, streamName string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = io.WriteString(o.dst, o.prefix+s+"\n")
	if o.logs != nil {
		o.logs.ship(s, streamName)
	}
	o.tail = append(o.tail, s)
	if len(o.tail) > tailLines {
		o.tail = o.tail[len(o.tail)-tailLines:]
	}
}

func (o *output) Tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.tail, "\n")
}

// stream is one of the two pipes (stdout, stderr); each keeps its own partial line.
type stream struct {
	o    *output
	name string // stdout or stderr
	buf  []byte
}

func (s *stream) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.buf = append(s.buf, p...)
			if len(s.buf) >= maxLine {
				s.o.line(string(s.buf), s.name)
				s.buf = s.buf[:0]
			}
			break
		}
		s.buf = append(s.buf, p[:i]...)
		s.o.line(strings.TrimSuffix(string(s.buf), "\r"), s.name)
		s.buf = s.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// flush emits a trailing partial line once the process has exited.
func (s *stream) flush() {
	if len(s.buf) > 0 {
		s.o.line(string(s.buf), s.name)
		s.buf = nil
	}
}

// setRequest records the invocation the instance just received: the lines that follow
// carry its request id (a line printed between invocations keeps the previous one).
func (o *output) setRequest(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.logs != nil {
		o.logs.requestID = id
	}
}

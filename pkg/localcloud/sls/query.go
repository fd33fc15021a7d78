package sls

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// The query subset of the local SLS (search statements; GetLogs splits "search | sql"
// at the first '|' outside quotes and runs the SQL with analytic.go; a '|' that
// reaches this parser, as in GetHistograms, is refused with InvalidQueryString):
//
//	*                       every log
//	key: value              the field equals value, or one of its tokens does
//	key: prefix*            the field, or one of its tokens, starts with prefix
//	key: "a phrase"         the field contains the phrase
//	key: *                  the field exists
//	key > 10  (>= < <= =)   numeric comparison
//	term, term*, "phrase"   any content value contains the text
//	a and b, a or b, not a, a not b, (a or b) and c, a b (= a and b)
//
// Matching ignores case unless the index says caseSensitive. Tokens are split on the
// index's token characters (key, else line), else on the SDK's CreateDefaultIndex set; '-',
// '.' and '_' are not separators, so "cn-hangzhou" and "m-abc" are single tokens.
// Special keys: __topic__, __source__, __time__ (unix seconds) and __tag__:name. A value
// with a ':' or spaces must be quoted.

// defaultTokens are the separators of the SDK's CreateDefaultIndex.
const defaultTokens = " \n\t\r,;[]{}()&^*#@~=<>/\\?:'\""

type matcher interface {
	match(ev *evalCtx) bool
}

type evalCtx struct {
	rec *Record
	idx *indexConfig
}

// field returns the value of key in the record.
func (ev *evalCtx) field(key string) (string, bool) {
	switch {
	case key == "__topic__":
		return ev.rec.Topic, true
	case key == "__source__":
		return ev.rec.Source, true
	case key == "__time__":
		return strconv.FormatInt(ev.rec.Time.Unix(), 10), true
	case strings.HasPrefix(key, "__tag__:"):
		v, ok := ev.rec.Tags[strings.TrimPrefix(key, "__tag__:")]
		return v, ok
	}
	v, ok := ev.rec.Contents[key]
	return v, ok
}

// tokenizer returns the token separators and case sensitivity for key ("" = full text).
func (ev *evalCtx) tokenizer(key string) (string, bool) {
	if ev.idx != nil {
		if k, ok := ev.idx.keys[key]; ok && key != "" {
			if len(k.Token) > 0 {
				return strings.Join(k.Token, ""), k.CaseSensitive
			}
			return defaultTokens, k.CaseSensitive
		}
		if ev.idx.line != nil {
			if len(ev.idx.line.Token) > 0 {
				return strings.Join(ev.idx.line.Token, ""), ev.idx.line.CaseSensitive
			}
			return defaultTokens, ev.idx.line.CaseSensitive
		}
	}
	return defaultTokens, false
}

type matchAll struct{}

func (matchAll) match(*evalCtx) bool { return true }

type andNode struct{ l, r matcher }

func (n andNode) match(ev *evalCtx) bool { return n.l.match(ev) && n.r.match(ev) }

type orNode struct{ l, r matcher }

func (n orNode) match(ev *evalCtx) bool { return n.l.match(ev) || n.r.match(ev) }

type notNode struct{ x matcher }

func (n notNode) match(ev *evalCtx) bool { return !n.x.match(ev) }

// termNode is key: value (key "" = a bare full-text term).
type termNode struct {
	key, value     string
	prefix, phrase bool
	exists         bool // key: *
}

func (n termNode) match(ev *evalCtx) bool {
	if n.key == "" {
		_, cs := ev.tokenizer("")
		want := fold(n.value, cs)
		for _, v := range ev.rec.Contents {
			if strings.Contains(fold(v, cs), want) {
				return true
			}
		}
		return false
	}
	v, ok := ev.field(n.key)
	if !ok {
		return false
	}
	if n.exists {
		return true
	}
	seps, cs := ev.tokenizer(n.key)
	v, want := fold(v, cs), fold(n.value, cs)
	if n.phrase {
		return strings.Contains(v, want)
	}
	test := func(s string) bool {
		if n.prefix {
			return strings.HasPrefix(s, want)
		}
		return s == want
	}
	if test(v) {
		return true
	}
	for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		if test(tok) {
			return true
		}
	}
	return false
}

func fold(s string, caseSensitive bool) string {
	if caseSensitive {
		return s
	}
	return strings.ToLower(s)
}

// cmpNode is key op number.
type cmpNode struct {
	key string
	op  string
	num float64
}

func (n cmpNode) match(ev *evalCtx) bool {
	v, ok := ev.field(n.key)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return false
	}
	switch n.op {
	case ">":
		return f > n.num
	case ">=":
		return f >= n.num
	case "<":
		return f < n.num
	case "<=":
		return f <= n.num
	default:
		return f == n.num
	}
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tLParen
	tRParen
	tColon
	tOp
	tAnd
	tOr
	tNot
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(q string) ([]token, error) {
	var out []token
	rs := []rune(q)
	isWordRune := func(r rune) bool {
		return !unicode.IsSpace(r) && !strings.ContainsRune(`():"<>=|`, r)
	}
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '|':
			return nil, fmt.Errorf("at %d: analytic statements after '|' are not supported by the local SLS", i)
		case r == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case r == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case r == ':':
			out = append(out, token{tColon, ":", i})
			i++
		case r == '<' || r == '>' || r == '=':
			op := string(r)
			if (r == '<' || r == '>') && i+1 < len(rs) && rs[i+1] == '=' {
				op += "="
			}
			out = append(out, token{tOp, op, i})
			i += len([]rune(op))
		case r == '"':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '\\' && i+1 < len(rs) {
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if rs[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("at %d: unterminated quoted string", start)
			}
			out = append(out, token{tString, b.String(), start})
		default:
			start := i
			for i < len(rs) && isWordRune(rs[i]) {
				i++
			}
			w := string(rs[start:i])
			// __tag__:name is one key: the colon inside it is not the key/value separator.
			if w == "__tag__" && i+1 < len(rs) && rs[i] == ':' && isWordRune(rs[i+1]) {
				j := i + 1
				for j < len(rs) && isWordRune(rs[j]) {
					j++
				}
				w += ":" + string(rs[i+1:j])
				i = j
			}
			kind := tWord
			switch strings.ToLower(w) {
			case "and":
				kind = tAnd
			case "or":
				kind = tOr
			case "not":
				kind = tNot
			}
			out = append(out, token{kind, w, start})
		}
	}
	return append(out, token{tEOF, "", len(rs)}), nil
}

// ---- parser ----

type parser struct {
	toks  []token
	i     int
	depth int // parseNot frames on the stack
}

// maxQueryDepth bounds nesting ("((((a))))", "not not not a"): the parser recurses once
// per level, and a 10 MB body of "(" would otherwise overflow the goroutine stack, which
// kills the process rather than the request.
const maxQueryDepth = 100

// parseQuery compiles a search statement; an empty query matches everything.
func parseQuery(q string) (matcher, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return matchAll{}, nil
	}
	m, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("at %d: unexpected %q", t.pos, t.text)
	}
	return m, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) parseOr() (matcher, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tOr {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) parseAnd() (matcher, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek().kind {
		case tAnd:
			p.next()
		case tWord, tString, tLParen, tNot:
			// juxtaposition means and: "a b", "a not b"
		default:
			return l, nil
		}
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
}

func (p *parser) parseNot() (matcher, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxQueryDepth {
		return nil, fmt.Errorf("at %d: query nested deeper than %d levels", p.peek().pos, maxQueryDepth)
	}
	if p.peek().kind == tNot {
		p.next()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (matcher, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		m, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, fmt.Errorf("at %d: want ')', got %q", c.pos, c.text)
		}
		return m, nil
	case tWord, tString:
		switch p.peek().kind {
		case tColon:
			p.next()
			return p.parseValue(t.text)
		case tOp:
			op := p.next()
			n := p.next()
			if n.kind != tWord {
				return nil, fmt.Errorf("at %d: want a number after %s", n.pos, op.text)
			}
			f, err := strconv.ParseFloat(n.text, 64)
			if err != nil {
				return nil, fmt.Errorf("at %d: %q is not a number", n.pos, n.text)
			}
			return cmpNode{key: t.text, op: op.text, num: f}, nil
		}
		if t.kind == tString {
			return termNode{value: t.text, phrase: true}, nil
		}
		if t.text == "*" {
			return matchAll{}, nil
		}
		if v, ok := strings.CutSuffix(t.text, "*"); ok {
			return termNode{value: v, prefix: true}, nil
		}
		return termNode{value: t.text}, nil
	case tEOF:
		return nil, fmt.Errorf("at %d: unexpected end of query", t.pos)
	}
	return nil, fmt.Errorf("at %d: unexpected %q", t.pos, t.text)
}

func (p *parser) parseValue(key string) (matcher, error) {
	v := p.next()
	switch v.kind {
	case tString:
		return termNode{key: key, value: v.text, phrase: true}, nil
	case tWord, tAnd, tOr, tNot: // "result: not" is a value, not an operator
		if v.text == "*" {
			return termNode{key: key, exists: true}, nil
		}
		if pre, ok := strings.CutSuffix(v.text, "*"); ok {
			return termNode{key: key, value: pre, prefix: true}, nil
		}
		return termNode{key: key, value: v.text}, nil
	}
	return nil, fmt.Errorf("at %d: want a value after %q:", v.pos, key)
}

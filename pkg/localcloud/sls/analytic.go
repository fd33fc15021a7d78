package sls

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The analytic subset of the local SLS: the SQL after "|" in "search | select ...",
// run over the logs the search part selects (exactly what the product's alerts and
// dashboard use, and nothing more):
//
//	select expr [as alias], ... [from log]
//	  [where cond] [group by expr, ...] [having cond]
//	  [order by expr [asc|desc], ...] [limit n]
//
// expressions: columns (content keys: numbers when the index types them long or
// double, else strings, so max/min/order of a text key are textual; __time__ as bigint, __topic__, __source__,
// "quoted names"), 'strings', numbers, + - * /, = != <> < <= > >=, and, or, not,
// is [not] null, and the functions count(*), count(1), count(x), count(distinct x),
// count_if(cond), sum, avg, max, min, from_unixtime(seconds) and
// date_trunc('second'|'minute'|'hour'|'day', t). Times print as
// "2006-01-02 15:04:05.000" in UTC. Anything else (joins, sub-queries, window
// functions, other functions) is refused with ParameterInvalid, never ignored, and so is
// a column the logstore's index does not have with statistics (doc_value) enabled. Without
// limit at most 100 rows come back, as on SLS; line and offset do not apply.

const defaultSQLLimit = 100

type sqlKind int

const (
	vNull sqlKind = iota
	vInt
	vFloat
	vStr
	vBool
	vTime
)

type sqlVal struct {
	k sqlKind
	i int64
	f float64
	s string
	b bool
	t time.Time
}

func (v sqlVal) String() string {
	switch v.k {
	case vInt:
		return strconv.FormatInt(v.i, 10)
	case vFloat:
		return strconv.FormatFloat(v.f, 'f', -1, 64)
	case vStr:
		return v.s
	case vBool:
		return strconv.FormatBool(v.b)
	case vTime:
		return v.t.UTC().Format("2006-01-02 15:04:05.000")
	}
	return "null"
}

func (v sqlVal) num() (float64, bool) {
	switch v.k {
	case vInt:
		return float64(v.i), true
	case vFloat:
		return v.f, true
	case vStr:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
		return f, err == nil
	case vTime:
		return float64(v.t.UnixNano()) / 1e9, true
	}
	return 0, false
}

// compare orders two non-null values: numerically when both read as numbers (content
// values are strings, compared with numbers the way an indexed long column would be),
// else as strings.
func compare(a, b sqlVal) int {
	if a.k == vTime && b.k == vTime {
		return a.t.Compare(b.t)
	}
	if a.k != vStr || b.k != vStr {
		if x, ok := a.num(); ok {
			if y, ok := b.num(); ok {
				switch {
				case x < y:
					return -1
				case x > y:
					return 1
				}
				return 0
			}
		}
	}
	return strings.Compare(a.String(), b.String())
}

// ---- expressions ----

type sqlExpr interface{ String() string }

type (
	colRef struct{ name string }
	litVal struct{ v sqlVal }
	star   struct{}
	unary  struct {
		op string
		x  sqlExpr
	}
	binary struct {
		op   string
		l, r sqlExpr
	}
	isNull struct {
		x   sqlExpr
		not bool
	}
	funcall struct {
		name     string
		distinct bool
		args     []sqlExpr
	}
)

func (e colRef) String() string { return e.name }
func (e litVal) String() string { return "'" + e.v.String() + "'" }
func (star) String() string     { return "*" }
func (e unary) String() string  { return "(" + e.op + " " + e.x.String() + ")" }
func (e binary) String() string { return "(" + e.l.String() + " " + e.op + " " + e.r.String() + ")" }
func (e isNull) String() string { return "(" + e.x.String() + " is null)" }
func (e funcall) String() string {
	parts := make([]string, len(e.args))
	for i, a := range e.args {
		parts[i] = a.String()
	}
	d := ""
	if e.distinct {
		d = "distinct "
	}
	return e.name + "(" + d + strings.Join(parts, ", ") + ")"
}

var aggregates = map[string]bool{"count": true, "count_if": true, "sum": true, "avg": true, "max": true, "min": true}

type selectItem struct {
	expr sqlExpr
	name string
}

type orderItem struct {
	expr sqlExpr
	desc bool
}

type sqlQuery struct {
	items   []selectItem
	where   sqlExpr
	groupBy []sqlExpr
	having  sqlExpr
	orderBy []orderItem
	limit   int
	agg     bool
}

// ---- lexer ----

type sqlTok struct {
	kind byte // 'i' ident, 'q' quoted ident, 's' string, 'n' number, 'o' operator/punct, 'e' end
	text string
	pos  int
}

func sqlLex(q string) ([]sqlTok, error) {
	var out []sqlTok
	rs := []rune(q)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '\'' || r == '"':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == r {
					if i+1 < len(rs) && rs[i+1] == r { // '' inside a string
						b.WriteRune(r)
						i += 2
						continue
					}
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("line 1:%d: unterminated %c", start+1, r)
			}
			kind := byte('s')
			if r == '"' {
				kind = 'q'
			}
			out = append(out, sqlTok{kind, b.String(), start})
		case unicode.IsDigit(r):
			start := i
			for i < len(rs) && (unicode.IsDigit(rs[i]) || rs[i] == '.') {
				i++
			}
			out = append(out, sqlTok{'n', string(rs[start:i]), start})
		case unicode.IsLetter(r) || r == '_':
			start := i
			for i < len(rs) && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i]) || rs[i] == '_') {
				i++
			}
			out = append(out, sqlTok{'i', string(rs[start:i]), start})
		default:
			start := i
			two := ""
			if i+1 < len(rs) {
				two = string(rs[i : i+2])
			}
			switch {
			case two == "<=" || two == ">=" || two == "!=" || two == "<>":
				out = append(out, sqlTok{'o', two, start})
				i += 2
			case strings.ContainsRune("(),*+-/=<>", r):
				out = append(out, sqlTok{'o', string(r), start})
				i++
			default:
				return nil, fmt.Errorf("line 1:%d: mismatched input '%c'", start+1, r)
			}
		}
	}
	return append(out, sqlTok{'e', "<EOF>", len(rs)}), nil
}

// ---- parser ----

type sqlParser struct {
	toks  []sqlTok
	i     int
	depth int
}

func (p *sqlParser) peek() sqlTok { return p.toks[p.i] }

func (p *sqlParser) next() sqlTok {
	t := p.toks[p.i]
	if t.kind != 'e' {
		p.i++
	}
	return t
}

// kw reports whether the next token is the keyword word (and consumes it).
func (p *sqlParser) kw(word string) bool {
	if t := p.peek(); t.kind == 'i' && strings.EqualFold(t.text, word) {
		p.i++
		return true
	}
	return false
}

func (p *sqlParser) punct(s string) bool {
	if t := p.peek(); t.kind == 'o' && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *sqlParser) errAt(t sqlTok, format string, args ...any) error {
	return fmt.Errorf("line 1:%d: "+format, append([]any{t.pos + 1}, args...)...)
}

var reserved = map[string]bool{"select": true, "from": true, "where": true, "group": true, "by": true, "having": true,
	"order": true, "limit": true, "as": true, "and": true, "or": true, "not": true, "asc": true, "desc": true,
	"is": true, "null": true, "distinct": true, "join": true, "union": true, "on": true, "true": true, "false": true}

func parseSQL(q string) (*sqlQuery, error) {
	toks, err := sqlLex(q)
	if err != nil {
		return nil, err
	}
	p := &sqlParser{toks: toks}
	if !p.kw("select") {
		return nil, p.errAt(p.peek(), "only select statements are supported by the local SLS, got '%s'", p.peek().text)
	}
	if p.kw("distinct") {
		return nil, p.errAt(p.toks[p.i-1], "select distinct is not supported by the local SLS")
	}
	sq := &sqlQuery{limit: defaultSQLLimit}
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		it := selectItem{expr: e}
		if p.kw("as") {
			t := p.next()
			if (t.kind != 'i' || reserved[strings.ToLower(t.text)]) && t.kind != 'q' {
				return nil, p.errAt(t, "want an alias after as, got '%s'", t.text)
			}
			it.name = t.text
		} else if t := p.peek(); t.kind == 'q' || (t.kind == 'i' && !reserved[strings.ToLower(t.text)]) {
			it.name = p.next().text
		}
		if it.name == "" {
			if c, ok := e.(colRef); ok {
				it.name = c.name
			} else {
				it.name = fmt.Sprintf("_col%d", len(sq.items))
			}
		}
		sq.items = append(sq.items, it)
		if !p.punct(",") {
			break
		}
	}
	if p.kw("from") {
		if t := p.next(); t.kind != 'i' || !strings.EqualFold(t.text, "log") {
			return nil, p.errAt(t, "only 'from log' is supported by the local SLS, got '%s'", t.text)
		}
	}
	if p.kw("where") {
		if sq.where, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if p.kw("group") {
		if !p.kw("by") {
			return nil, p.errAt(p.peek(), "want 'by' after group")
		}
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			sq.groupBy = append(sq.groupBy, e)
			if !p.punct(",") {
				break
			}
		}
	}
	if p.kw("having") {
		if sq.having, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if p.kw("order") {
		if !p.kw("by") {
			return nil, p.errAt(p.peek(), "want 'by' after order")
		}
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			oi := orderItem{expr: e}
			if p.kw("desc") {
				oi.desc = true
			} else {
				p.kw("asc")
			}
			sq.orderBy = append(sq.orderBy, oi)
			if !p.punct(",") {
				break
			}
		}
	}
	if p.kw("limit") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != 'n' || err != nil || n < 0 {
			return nil, p.errAt(t, "want a row count after limit, got '%s'", t.text)
		}
		sq.limit = min(n, 1000000)
	}
	if t := p.peek(); t.kind != 'e' {
		return nil, p.errAt(t, "'%s' is not supported by the local SLS", t.text)
	}
	return sq, sq.resolve()
}

// resolve replaces select aliases in group by with their expressions and checks that,
// in an aggregate query, every column outside an aggregate is grouped (as Presto does).
func (sq *sqlQuery) resolve() error {
	alias := map[string]sqlExpr{}
	for _, it := range sq.items {
		alias[it.name] = it.expr
	}
	for i, g := range sq.groupBy {
		if c, ok := g.(colRef); ok {
			if e, ok := alias[c.name]; ok {
				sq.groupBy[i] = e
			}
		}
		if hasAgg(sq.groupBy[i]) {
			return fmt.Errorf("group by must not contain aggregations: %s", g)
		}
	}
	if sq.where != nil && hasAgg(sq.where) {
		return fmt.Errorf("where clause cannot contain aggregations: %s", sq.where)
	}
	sq.agg = len(sq.groupBy) > 0 || sq.having != nil
	for _, it := range sq.items {
		sq.agg = sq.agg || hasAgg(it.expr)
	}
	if !sq.agg {
		return nil
	}
	grouped := map[string]bool{}
	for _, g := range sq.groupBy {
		grouped[g.String()] = true
	}
	for _, it := range sq.items {
		if err := checkGrouped(it.expr, grouped); err != nil {
			return err
		}
	}
	return nil
}

func hasAgg(e sqlExpr) bool {
	switch x := e.(type) {
	case funcall:
		if aggregates[x.name] {
			return true
		}
		return slices.ContainsFunc(x.args, hasAgg)
	case unary:
		return hasAgg(x.x)
	case binary:
		return hasAgg(x.l) || hasAgg(x.r)
	case isNull:
		return hasAgg(x.x)
	}
	return false
}

func checkGrouped(e sqlExpr, grouped map[string]bool) error {
	if grouped[e.String()] {
		return nil
	}
	switch x := e.(type) {
	case colRef:
		return fmt.Errorf("'%s' must be an aggregate expression or appear in GROUP BY clause", x.name)
	case funcall:
		if aggregates[x.name] {
			return nil
		}
		for _, a := range x.args {
			if err := checkGrouped(a, grouped); err != nil {
				return err
			}
		}
	case unary:
		return checkGrouped(x.x, grouped)
	case binary:
		if err := checkGrouped(x.l, grouped); err != nil {
			return err
		}
		return checkGrouped(x.r, grouped)
	case isNull:
		return checkGrouped(x.x, grouped)
	}
	return nil
}

const maxSQLDepth = 100

func (p *sqlParser) expr() (sqlExpr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxSQLDepth {
		return nil, p.errAt(p.peek(), "expression nested deeper than %d levels", maxSQLDepth)
	}
	return p.or()
}

func (p *sqlParser) or() (sqlExpr, error) {
	l, err := p.and()
	for err == nil && p.kw("or") {
		var r sqlExpr
		if r, err = p.and(); err == nil {
			l = binary{"or", l, r}
		}
	}
	return l, err
}

func (p *sqlParser) and() (sqlExpr, error) {
	l, err := p.not()
	for err == nil && p.kw("and") {
		var r sqlExpr
		if r, err = p.not(); err == nil {
			l = binary{"and", l, r}
		}
	}
	return l, err
}

func (p *sqlParser) not() (sqlExpr, error) {
	if p.kw("not") {
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return unary{"not", x}, nil
	}
	return p.cmp()
}

func (p *sqlParser) cmp() (sqlExpr, error) {
	l, err := p.add()
	if err != nil {
		return nil, err
	}
	if p.kw("is") {
		not := p.kw("not")
		if !p.kw("null") {
			return nil, p.errAt(p.peek(), "want null after is")
		}
		return isNull{l, not}, nil
	}
	if t := p.peek(); t.kind == 'o' && slices.Contains([]string{"=", "!=", "<>", "<", "<=", ">", ">="}, t.text) {
		p.next()
		r, err := p.add()
		if err != nil {
			return nil, err
		}
		op := t.text
		if op == "<>" {
			op = "!="
		}
		return binary{op, l, r}, nil
	}
	return l, nil
}

func (p *sqlParser) add() (sqlExpr, error) {
	l, err := p.mul()
	for err == nil {
		t := p.peek()
		if t.kind != 'o' || (t.text != "+" && t.text != "-") {
			break
		}
		p.next()
		var r sqlExpr
		if r, err = p.mul(); err == nil {
			l = binary{t.text, l, r}
		}
	}
	return l, err
}

func (p *sqlParser) mul() (sqlExpr, error) {
	l, err := p.primary()
	for err == nil {
		t := p.peek()
		if t.kind != 'o' || (t.text != "*" && t.text != "/") {
			break
		}
		p.next()
		var r sqlExpr
		if r, err = p.primary(); err == nil {
			l = binary{t.text, l, r}
		}
	}
	return l, err
}

func (p *sqlParser) primary() (sqlExpr, error) {
	t := p.next()
	switch t.kind {
	case 's':
		return litVal{sqlVal{k: vStr, s: t.text}}, nil
	case 'q':
		return colRef{t.text}, nil
	case 'n':
		if i, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			return litVal{sqlVal{k: vInt, i: i}}, nil
		}
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errAt(t, "'%s' is not a number", t.text)
		}
		return litVal{sqlVal{k: vFloat, f: f}}, nil
	case 'o':
		switch t.text {
		case "(":
			if p.kw("select") {
				return nil, p.errAt(t, "sub-queries are not supported by the local SLS")
			}
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			if !p.punct(")") {
				return nil, p.errAt(p.peek(), "want ')', got '%s'", p.peek().text)
			}
			return e, nil
		case "-":
			x, err := p.primary()
			if err != nil {
				return nil, err
			}
			return binary{"-", litVal{sqlVal{k: vInt}}, x}, nil
		case "*":
			return star{}, nil
		}
	case 'i':
		low := strings.ToLower(t.text)
		switch low {
		case "null":
			return litVal{sqlVal{}}, nil
		case "true", "false":
			return litVal{sqlVal{k: vBool, b: low == "true"}}, nil
		}
		if reserved[low] {
			return nil, p.errAt(t, "mismatched input '%s'", t.text)
		}
		if !p.punct("(") {
			return colRef{t.text}, nil
		}
		return p.call(t, low)
	}
	return nil, p.errAt(t, "mismatched input '%s'", t.text)
}

// arity of the supported functions (-1: count, which takes * or one argument).
var sqlFuncs = map[string]int{"count": -1, "count_if": 1, "sum": 1, "avg": 1, "max": 1, "min": 1,
	"from_unixtime": 1, "date_trunc": 2}

func (p *sqlParser) call(t sqlTok, name string) (sqlExpr, error) {
	arity, ok := sqlFuncs[name]
	if !ok {
		return nil, p.errAt(t, "function %s is not supported by the local SLS", name)
	}
	fc := funcall{name: name}
	fc.distinct = p.kw("distinct")
	if fc.distinct && name != "count" {
		return nil, p.errAt(t, "%s(distinct ...) is not supported by the local SLS", name)
	}
	if !p.punct(")") {
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			fc.args = append(fc.args, e)
			if !p.punct(",") {
				break
			}
		}
		if !p.punct(")") {
			return nil, p.errAt(p.peek(), "want ')', got '%s'", p.peek().text)
		}
	}
	if p.kw("over") {
		return nil, p.errAt(t, "window functions are not supported by the local SLS")
	}
	if arity == -1 {
		arity = 1
	}
	if len(fc.args) != arity {
		return nil, p.errAt(t, "function %s takes %d arguments, got %d", name, arity, len(fc.args))
	}
	for i, a := range fc.args {
		if _, ok := a.(star); ok && (name != "count" || fc.distinct) || i > 0 && ok {
			return nil, p.errAt(t, "'*' is only allowed in count(*)")
		}
		if aggregates[name] && hasAgg(a) {
			return nil, p.errAt(t, "cannot nest aggregations inside %s", name)
		}
	}
	if name == "date_trunc" {
		u, ok := fc.args[0].(litVal)
		if !ok || !slices.Contains([]string{"second", "minute", "hour", "day"}, strings.ToLower(u.v.s)) {
			return nil, p.errAt(t, "date_trunc unit %s is not supported by the local SLS (second, minute, hour, day)", fc.args[0])
		}
	}
	return fc, nil
}

// ---- evaluation ----

type sqlEnv struct {
	row   *Record           // the row (aggregate queries: the group's first row)
	group []*Record         // aggregate queries: the rows of the group
	out   map[string]sqlVal // order by / having: the select items by name
	idx   *indexConfig      // the logstore's index: long and double keys read as numbers
}

// fieldVal reads a column: a key the index types long or double is a number (null when
// the value does not parse), any other key a string, as in SLS's SQL.
func fieldVal(r *Record, idx *indexConfig, name string) sqlVal {
	if r == nil {
		return sqlVal{}
	}
	if name == "__time__" {
		return sqlVal{k: vInt, i: r.Time.Unix()}
	}
	v, ok := (&evalCtx{rec: r}).field(name)
	if !ok {
		return sqlVal{}
	}
	if idx != nil {
		switch idx.keys[name].Type {
		case "long":
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return sqlVal{k: vInt, i: n}
			}
			return sqlVal{}
		case "double":
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return sqlVal{k: vFloat, f: f}
			}
			return sqlVal{}
		}
	}
	return sqlVal{k: vStr, s: v}
}

func truthy(v sqlVal) bool { return v.k == vBool && v.b }

func (env *sqlEnv) eval(e sqlExpr) (sqlVal, error) {
	switch x := e.(type) {
	case litVal:
		return x.v, nil
	case colRef:
		if v, ok := env.out[x.name]; ok {
			return v, nil
		}
		return fieldVal(env.row, env.idx, x.name), nil
	case isNull:
		v, err := env.eval(x.x)
		return sqlVal{k: vBool, b: (v.k == vNull) != x.not}, err
	case unary:
		v, err := env.eval(x.x)
		if err != nil || v.k == vNull {
			return sqlVal{}, err
		}
		return sqlVal{k: vBool, b: !truthy(v)}, nil
	case binary:
		return env.binary(x)
	case funcall:
		if aggregates[x.name] {
			return env.aggregate(x)
		}
		return env.scalar(x)
	}
	return sqlVal{}, fmt.Errorf("cannot evaluate %s", e)
}

func (env *sqlEnv) binary(x binary) (sqlVal, error) {
	l, err := env.eval(x.l)
	if err != nil {
		return sqlVal{}, err
	}
	r, err := env.eval(x.r)
	if err != nil {
		return sqlVal{}, err
	}
	switch x.op {
	case "and":
		if (l.k == vBool && !l.b) || (r.k == vBool && !r.b) {
			return sqlVal{k: vBool}, nil
		}
		if l.k == vNull || r.k == vNull {
			return sqlVal{}, nil
		}
		return sqlVal{k: vBool, b: true}, nil
	case "or":
		if truthy(l) || truthy(r) {
			return sqlVal{k: vBool, b: true}, nil
		}
		if l.k == vNull || r.k == vNull {
			return sqlVal{}, nil
		}
		return sqlVal{k: vBool}, nil
	}
	if l.k == vNull || r.k == vNull {
		return sqlVal{}, nil
	}
	switch x.op {
	case "=", "!=", "<", "<=", ">", ">=":
		c := compare(l, r)
		b := map[string]bool{"=": c == 0, "!=": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[x.op]
		return sqlVal{k: vBool, b: b}, nil
	}
	if l.k == vInt && r.k == vInt {
		switch x.op {
		case "+":
			return sqlVal{k: vInt, i: l.i + r.i}, nil
		case "-":
			return sqlVal{k: vInt, i: l.i - r.i}, nil
		case "*":
			return sqlVal{k: vInt, i: l.i * r.i}, nil
		case "/":
			if r.i == 0 {
				return sqlVal{}, fmt.Errorf("division by zero")
			}
			return sqlVal{k: vInt, i: l.i / r.i}, nil
		}
	}
	a, ok1 := l.num()
	b, ok2 := r.num()
	if !ok1 || !ok2 {
		return sqlVal{}, fmt.Errorf("'%s' cannot be applied to %q and %q", x.op, l.String(), r.String())
	}
	switch x.op {
	case "+":
		return sqlVal{k: vFloat, f: a + b}, nil
	case "-":
		return sqlVal{k: vFloat, f: a - b}, nil
	case "*":
		return sqlVal{k: vFloat, f: a * b}, nil
	}
	return sqlVal{k: vFloat, f: a / b}, nil
}

func (env *sqlEnv) scalar(x funcall) (sqlVal, error) {
	args := make([]sqlVal, len(x.args))
	for i, a := range x.args {
		v, err := env.eval(a)
		if err != nil {
			return sqlVal{}, err
		}
		if v.k == vNull {
			return sqlVal{}, nil
		}
		args[i] = v
	}
	switch x.name {
	case "from_unixtime":
		f, ok := args[0].num()
		if !ok {
			return sqlVal{}, fmt.Errorf("from_unixtime(%q): not a number", args[0].String())
		}
		return sqlVal{k: vTime, t: time.Unix(0, int64(f*1e9)).UTC()}, nil
	case "date_trunc":
		t := args[1].t
		if args[1].k != vTime {
			f, ok := args[1].num()
			if !ok {
				return sqlVal{}, fmt.Errorf("date_trunc(%q): not a time", args[1].String())
			}
			t = time.Unix(0, int64(f*1e9)).UTC()
		}
		unit := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.ToLower(args[0].s)]
		return sqlVal{k: vTime, t: t.UTC().Truncate(unit)}, nil
	}
	return sqlVal{}, fmt.Errorf("function %s is not supported by the local SLS", x.name)
}

func (env *sqlEnv) aggregate(x funcall) (sqlVal, error) {
	var vals []sqlVal
	for _, r := range env.group {
		sub := &sqlEnv{row: r, idx: env.idx}
		if _, ok := x.args[0].(star); ok {
			vals = append(vals, sqlVal{k: vInt, i: 1})
			continue
		}
		v, err := sub.eval(x.args[0])
		if err != nil {
			return sqlVal{}, err
		}
		if x.name == "count_if" {
			if truthy(v) {
				vals = append(vals, v)
			}
			continue
		}
		if v.k != vNull {
			vals = append(vals, v)
		}
	}
	switch x.name {
	case "count", "count_if":
		if x.distinct {
			seen := map[string]bool{}
			for _, v := range vals {
				seen[v.String()] = true
			}
			return sqlVal{k: vInt, i: int64(len(seen))}, nil
		}
		return sqlVal{k: vInt, i: int64(len(vals))}, nil
	case "max", "min":
		if len(vals) == 0 {
			return sqlVal{}, nil
		}
		best := vals[0]
		for _, v := range vals[1:] {
			if c := compare(v, best); (x.name == "max" && c > 0) || (x.name == "min" && c < 0) {
				best = v
			}
		}
		return best, nil
	}
	if len(vals) == 0 { // sum, avg
		return sqlVal{}, nil
	}
	var sum float64
	allInt := true
	var isum int64
	for _, v := range vals {
		f, ok := v.num()
		if !ok {
			return sqlVal{}, fmt.Errorf("%s(%q): not a number", x.name, v.String())
		}
		sum += f
		if n, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			isum += n
		} else {
			allInt = false
		}
	}
	if x.name == "avg" {
		return sqlVal{k: vFloat, f: sum / float64(len(vals))}, nil
	}
	if allInt {
		return sqlVal{k: vInt, i: isum}, nil
	}
	return sqlVal{k: vFloat, f: sum}, nil
}

// run evaluates sq over rows (already selected by the search part, oldest first) and
// returns the result rows and the column names in select order.
func (sq *sqlQuery) run(rows []Record, idx *indexConfig) ([]map[string]string, []string, error) {
	if err := sq.checkColumns(idx); err != nil {
		return nil, nil, err
	}
	var in []*Record
	for i := range rows {
		r := &rows[i]
		if sq.where != nil {
			v, err := (&sqlEnv{row: r, idx: idx}).eval(sq.where)
			if err != nil {
				return nil, nil, err
			}
			if !truthy(v) {
				continue
			}
		}
		in = append(in, r)
	}
	var envs []*sqlEnv
	if sq.agg {
		index := map[string]int{}
		if len(sq.groupBy) == 0 { // a global aggregate: one row, even over no input
			envs = append(envs, &sqlEnv{group: in, idx: idx})
			if len(in) > 0 {
				envs[0].row = in[0]
			}
		}
		for _, r := range in {
			if len(sq.groupBy) == 0 {
				break
			}
			key := make([]string, len(sq.groupBy))
			for j, g := range sq.groupBy {
				v, err := (&sqlEnv{row: r, idx: idx}).eval(g)
				if err != nil {
					return nil, nil, err
				}
				key[j] = strconv.Itoa(int(v.k)) + ":" + v.String()
			}
			k := strings.Join(key, "\x00")
			if j, ok := index[k]; ok {
				envs[j].group = append(envs[j].group, r)
				continue
			}
			index[k] = len(envs)
			envs = append(envs, &sqlEnv{row: r, group: []*Record{r}, idx: idx})
		}
	} else {
		for _, r := range in {
			envs = append(envs, &sqlEnv{row: r, idx: idx})
		}
	}
	type outRow struct {
		env  *sqlEnv
		vals []sqlVal
	}
	var out []outRow
	for _, env := range envs {
		vals := make([]sqlVal, len(sq.items))
		named := map[string]sqlVal{}
		for i, it := range sq.items {
			v, err := env.eval(it.expr)
			if err != nil {
				return nil, nil, err
			}
			vals[i] = v
			named[it.name] = v
		}
		env.out = named
		if sq.having != nil {
			v, err := env.eval(sq.having)
			if err != nil {
				return nil, nil, err
			}
			if !truthy(v) {
				continue
			}
		}
		out = append(out, outRow{env, vals})
	}
	if len(sq.orderBy) > 0 {
		keys := make([][]sqlVal, len(out))
		for i, o := range out {
			keys[i] = make([]sqlVal, len(sq.orderBy))
			for j, ob := range sq.orderBy {
				v, err := o.env.eval(ob.expr)
				if err != nil {
					return nil, nil, err
				}
				keys[i][j] = v
			}
		}
		idx := make([]int, len(out))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			for j, ob := range sq.orderBy {
				x, y := keys[a][j], keys[b][j]
				var c int
				switch { // nulls last, in both directions (Presto's default)
				case x.k == vNull && y.k == vNull:
				case x.k == vNull:
					return 1
				case y.k == vNull:
					return -1
				default:
					c = compare(x, y)
				}
				if ob.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
		sorted := make([]outRow, len(out))
		for i, j := range idx {
			sorted[i] = out[j]
		}
		out = sorted
	}
	out = out[:min(len(out), sq.limit)]
	cols := make([]string, len(sq.items))
	for i, it := range sq.items {
		cols[i] = it.name
	}
	data := make([]map[string]string, len(out))
	for i, o := range out {
		d := make(map[string]string, len(cols))
		for j, c := range cols {
			d[c] = o.vals[j].String()
		}
		data[i] = d
	}
	return data, cols, nil
}

// splitAnalytic splits "search | sql" at the first '|' outside double quotes.
func splitAnalytic(q string) (search, sql string, ok bool) {
	inQuote := false
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case '|':
			if !inQuote {
				return strings.TrimSpace(q[:i]), strings.TrimSpace(q[i+1:]), true
			}
		}
	}
	return q, "", false
}

// checkColumns refuses, as SLS does, a column that is not a key of the index with
// statistics (doc_value) enabled: a typo in an alert's query fails here rather than
// reading nulls. Without an index the local SLS is lenient (SLS refuses the query).
func (sq *sqlQuery) checkColumns(idx *indexConfig) error {
	if idx == nil {
		return nil
	}
	names := map[string]bool{}
	for _, it := range sq.items {
		names[it.name] = true
	}
	var bad string
	var walk func(e sqlExpr, aliasesOK bool)
	walk = func(e sqlExpr, aliasesOK bool) {
		switch x := e.(type) {
		case colRef:
			n := x.name
			switch {
			case bad != "", aliasesOK && names[n], n == "__time__", n == "__topic__", n == "__source__", strings.HasPrefix(n, "__tag__:"):
			case idx.keys[n].DocValue:
			default:
				bad = n
			}
		case funcall:
			for _, a := range x.args {
				walk(a, aliasesOK)
			}
		case unary:
			walk(x.x, aliasesOK)
		case binary:
			walk(x.l, aliasesOK)
			walk(x.r, aliasesOK)
		case isNull:
			walk(x.x, aliasesOK)
		}
	}
	for _, it := range sq.items {
		walk(it.expr, false)
	}
	for _, g := range sq.groupBy {
		walk(g, false)
	}
	if sq.where != nil {
		walk(sq.where, false)
	}
	if sq.having != nil {
		walk(sq.having, true)
	}
	for _, o := range sq.orderBy {
		walk(o.expr, true)
	}
	if bad != "" {
		return fmt.Errorf("Column '%s' no longer exists or type mismatch; add it to the index with statistics (doc_value) enabled", bad)
	}
	return nil
}

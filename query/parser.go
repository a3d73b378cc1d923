package query

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"

	"sluice"
)

// MaxSQLBytes is the longest SQL text the analyser accepts.
const MaxSQLBytes = 64 << 10

// Parser parses SQL with DuckDB's own parser (json_serialize_sql). Its DuckDB
// instance holds no data, never executes the text it parses, and is locked
// down like a sandbox.
type Parser struct {
	ser *serializer
	// verified remembers bounded statements that passed Verify.
	verified *lru.Cache[[sha256.Size]byte, struct{}]
	// layouts remembers the renderer's stages after a row stage (up to
	// their numbers) that passed Verify: a statement of a known layout
	// re-parses only its row stage (see layoutKey).
	layouts *lru.Cache[[sha256.Size]byte, struct{}]
	// tail is what json_serialize_sql writes after the row stage of a
	// rowStageStatement, as a function of the row stage's length.
	tail tailTemplate
	// parsed counts the bytes of SQL sent to DuckDB's parser (for tests).
	parsed atomic.Int64
}

// verifiedShapes is how many verified statements a Parser remembers.
const verifiedShapes = 4096

// NewParser opens the parser's empty, locked DuckDB instance.
func NewParser(ctx context.Context) (*Parser, error) {
	ser, err := openSerializer()
	if err != nil {
		return nil, err
	}
	verified, err := lru.New[[sha256.Size]byte, struct{}](verifiedShapes)
	if err != nil {
		ser.close()
		return nil, fmt.Errorf("parser cache: %w", err)
	}
	layouts, err := lru.New[[sha256.Size]byte, struct{}](verifiedShapes)
	if err != nil {
		ser.close()
		return nil, fmt.Errorf("parser cache: %w", err)
	}
	p := &Parser{ser: ser, verified: verified, layouts: layouts}
	if p.tail, err = p.rowStageTail(ctx); err != nil {
		ser.close()
		return nil, err
	}
	return p, nil
}

// Forget drops every statement and layout Verify remembers: the next
// statement of any shape is verified in full. For measuring that cost.
func (p *Parser) Forget() {
	p.verified.Purge()
	p.layouts.Purge()
}

// Close releases the parser's DuckDB instance.
func (p *Parser) Close() error {
	p.ser.close()
	return nil
}

// parse returns the single SELECT statement of text as a JSON tree. The
// text travels as a bound parameter: it is parsed, never executed.
func (p *Parser) parse(ctx context.Context, text string) (node, error) {
	if len(text) > MaxSQLBytes {
		return nil, refuse("sql.too_long", 0, "the query is %d bytes long; the limit is %d", len(text), MaxSQLBytes)
	}
	if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
		return nil, refuse("sql.encoding", 0, "the query must be valid UTF-8 without NUL characters")
	}
	if strings.TrimSpace(text) == "" {
		return nil, refuse("sql.empty", 0, "the query is empty")
	}
	out, err := p.serializeRaw(ctx, text)
	if err != nil {
		return nil, err
	}
	return decodeStatement(out)
}

// decodeStatement decodes json_serialize_sql's answer, which must hold
// exactly one SELECT statement, and returns the statement's node.
func decodeStatement(out []byte) (node, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		// DuckDB writes a DOUBLE constant out of range (1e400) as a bare
		// Infinity, which is not JSON.
		if bytes.Contains(out, []byte("Infinity")) || bytes.Contains(out, []byte("NaN")) {
			return nil, refuse("sql.constant", 0, "a number in the query is beyond the range of DOUBLE")
		}
		return nil, fmt.Errorf("decode parse tree: %w", err)
	}
	if isErr, _ := doc["error"].(bool); isErr {
		typ, _ := doc["error_type"].(string)
		msg, _ := doc["error_message"].(string)
		pos := 0
		if s, ok := doc["position"].(string); ok {
			if n, err := strconv.Atoi(s); err == nil {
				pos = n + 1
			}
		}
		if typ == "not implemented" {
			return nil, refuse("sql.not_select", 0, "only a single SELECT statement is accepted")
		}
		return nil, refuse("sql.syntax", pos, "%s", msg)
	}
	stmts, _ := doc["statements"].([]any)
	if len(stmts) != 1 {
		return nil, refuse("sql.multiple_statements", 0, "exactly one statement is accepted, got %d", len(stmts))
	}
	st, _ := stmts[0].(map[string]any)
	if st == nil {
		return nil, fmt.Errorf("parse tree: statement is not an object")
	}
	for k, v := range st {
		switch {
		case k == "node" || isEmpty(v):
		case k == "named_param_map":
			return nil, refuse("sql.parameter", 0, "query parameters are not supported")
		default:
			return nil, refuse("sql.unsupported", 0, "unsupported statement feature %q", k)
		}
	}
	n, _ := st["node"].(map[string]any)
	if n == nil {
		return nil, fmt.Errorf("parse tree: statement has no node")
	}
	return node(n), nil
}

// isEmpty reports whether a JSON value is an empty list or object.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// serializeRaw returns json_serialize_sql's answer for text, undecoded,
// and counts the bytes parsed.
func (p *Parser) serializeRaw(ctx context.Context, text string) ([]byte, error) {
	p.parsed.Add(int64(len(text)))
	return p.ser.serialize(ctx, text)
}

// serialize returns the JSON parse tree of SQL that must parse: exactly one
// SELECT statement.
func (p *Parser) serialize(ctx context.Context, text string) ([]byte, error) {
	out, err := p.serializeRaw(ctx, text)
	if err != nil {
		return nil, err
	}
	const head = `{"error":false,"statements":[`
	if !bytes.HasPrefix(out, []byte(head)) || topLevelItems(out[len(head)-1:]) != 1 {
		return nil, fmt.Errorf("parse: not exactly one SELECT: %.200s", out)
	}
	return out, nil
}

// topLevelItems counts the items of the JSON array raw starts with,
// skipping strings and nested values; -1 if it is malformed.
func topLevelItems(raw []byte) int {
	if len(raw) == 0 || raw[0] != '[' {
		return -1
	}
	depth, items, inString, empty := 0, 0, false, true
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			empty = false
		case '[', '{':
			if depth == 1 {
				empty = false
			}
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				if !empty {
					items++
				}
				return items
			}
		case ',':
			if depth == 1 {
				items++
			}
		default:
			if depth == 1 && c > ' ' {
				empty = false
			}
		}
	}
	return -1
}

// refuse returns an analysis refusal.
func refuse(rule string, pos int, format string, args ...any) *sluice.Error {
	return &sluice.Error{Code: sluice.EINVALID, Step: sluice.StepAnalysis, Rule: rule, Pos: pos, Message: fmt.Sprintf(format, args...)}
}

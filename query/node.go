package query

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
)

// node is one object of DuckDB's JSON parse tree. The analyser reads it
// through accessors and refuses any key it does not understand: with
// skip_default, a key is present only when it changes the meaning.
type node map[string]any

func (n node) str(key string) string {
	s, _ := n[key].(string)
	return s
}

func (n node) child(key string) node {
	m, _ := n[key].(map[string]any)
	if m == nil {
		return nil
	}
	return node(m)
}

func (n node) list(key string) []node {
	arr, _ := n[key].([]any)
	out := make([]node, 0, len(arr))
	for _, a := range arr {
		if m, ok := a.(map[string]any); ok {
			out = append(out, node(m))
		}
	}
	return out
}

func (n node) strings(key string) []string {
	arr, _ := n[key].([]any)
	out := make([]string, 0, len(arr))
	for _, a := range arr {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (n node) flag(key string) bool {
	b, _ := n[key].(bool)
	return b
}

// pos is the 1-based position of the node in the query text, or 0.
func (n node) pos() int {
	num, ok := n["query_location"].(json.Number)
	if !ok {
		return 0
	}
	v, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil || v > 1<<31 {
		return 0
	}
	return int(v) + 1
}

// only refuses n if it carries a key outside allowed (and the keys every
// node may carry).
func (n node) only(what string, pos int, allowed ...string) error {
	for k, v := range n {
		if isEmpty(v) {
			continue
		}
		switch k {
		case "class", "type", "query_location", "alias":
			continue
		}
		ok := false
		for _, a := range allowed {
			if a == k {
				ok = true
				break
			}
		}
		if !ok {
			return refuse("sql.unsupported", pos, "%s with %s is not supported", what, describeKey(k))
		}
	}
	return nil
}

func describeKey(k string) string {
	switch k {
	case "filter":
		return "a FILTER clause"
	case "distinct":
		return "DISTINCT"
	case "order_bys":
		return "an ORDER BY inside the call"
	case "export_state":
		return "EXPORT_STATE"
	case "sample":
		return "a SAMPLE clause"
	case "qualify":
		return "QUALIFY"
	case "having":
		return "HAVING"
	case "modifiers":
		return "ORDER BY, LIMIT or DISTINCT"
	case "cte_map":
		return "a WITH clause"
	case "group_expressions", "group_sets":
		return "GROUP BY"
	case "schema", "catalog":
		return "a qualified name"
	}
	return fmt.Sprintf("%q", k)
}

// constant is a decoded SQL literal.
type constant struct {
	typ    string // DuckDB type id: INTEGER, BIGINT, DECIMAL, VARCHAR, BOOLEAN, NULL, …
	null   bool
	num    *big.Rat // numeric value
	str    string   // VARCHAR value
	width  int      // DECIMAL width
	scale  int      // DECIMAL scale
	isBool bool
	b      bool
}

func decodeConstant(n node) (*constant, error) {
	v := n.child("value")
	if v == nil {
		return nil, refuse("sql.constant", n.pos(), "malformed constant")
	}
	t := v.child("type")
	c := &constant{typ: t.str("id"), null: v.flag("is_null")}
	if c.null {
		return c, nil
	}
	raw := v["value"]
	switch c.typ {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT":
		num, ok := raw.(json.Number)
		if !ok {
			return nil, refuse("sql.constant", n.pos(), "malformed integer constant")
		}
		r, ok := new(big.Rat).SetString(string(num))
		if !ok {
			return nil, refuse("sql.constant", n.pos(), "malformed integer constant")
		}
		c.num = r
	case "HUGEINT":
		m, _ := raw.(map[string]any)
		up, ok1 := m["upper"].(json.Number)
		lo, ok2 := m["lower"].(json.Number)
		if !ok1 || !ok2 {
			return nil, refuse("sql.constant", n.pos(), "malformed integer constant")
		}
		u, _ := new(big.Int).SetString(string(up), 10)
		l, _ := new(big.Int).SetString(string(lo), 10)
		if u == nil || l == nil {
			return nil, refuse("sql.constant", n.pos(), "malformed integer constant")
		}
		u.Lsh(u, 64).Add(u, l)
		c.num = new(big.Rat).SetInt(u)
	case "DECIMAL":
		ti := t.child("type_info")
		w, _ := ti["width"].(json.Number)
		s, _ := ti["scale"].(json.Number)
		wi, _ := strconv.Atoi(string(w))
		si, _ := strconv.Atoi(string(s))
		c.width, c.scale = wi, si
		var unscaled *big.Int
		switch x := raw.(type) {
		case json.Number:
			unscaled, _ = new(big.Int).SetString(string(x), 10)
		case map[string]any:
			up, _ := x["upper"].(json.Number)
			lo, _ := x["lower"].(json.Number)
			u, _ := new(big.Int).SetString(string(up), 10)
			l, _ := new(big.Int).SetString(string(lo), 10)
			if u != nil && l != nil {
				unscaled = u.Lsh(u, 64).Add(u, l)
			}
		}
		if unscaled == nil || si < 0 || si > 38 {
			return nil, refuse("sql.constant", n.pos(), "malformed decimal constant")
		}
		c.num = new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(si)), nil))
	case "DOUBLE", "FLOAT":
		num, ok := raw.(json.Number)
		if !ok {
			return nil, refuse("sql.constant", n.pos(), "malformed numeric constant")
		}
		r, ok := new(big.Rat).SetString(string(num))
		if !ok {
			return nil, refuse("sql.constant", n.pos(), "malformed numeric constant")
		}
		c.num = r
	case "VARCHAR":
		s, ok := raw.(string)
		if !ok {
			return nil, refuse("sql.constant", n.pos(), "malformed string constant")
		}
		c.str = s
	case "BOOLEAN":
		b, ok := raw.(bool)
		if !ok {
			return nil, refuse("sql.constant", n.pos(), "malformed boolean constant")
		}
		c.isBool, c.b = true, b
	default:
		return nil, refuse("sql.constant", n.pos(), "constants of type %s are not supported", c.typ)
	}
	return c, nil
}

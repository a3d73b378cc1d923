package service

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"sluice"
)

// PostProcess applies HAVING, ORDER BY and LIMIT to a release. It reads
// only released (noisy) values, so it costs no budget.
func PostProcess(plan *sluice.Plan, rel *sluice.Release) error {
	if plan.Having != nil {
		kept := rel.Rows[:0]
		for _, row := range rel.Rows {
			ok, err := holds(plan.Having, row)
			if err != nil {
				return err
			}
			if ok {
				kept = append(kept, row)
			}
		}
		rel.Rows = kept
	}
	if len(plan.OrderBy) > 0 {
		slices.SortStableFunc(rel.Rows, func(a, b []sluice.Value) int {
			for _, o := range plan.OrderBy {
				c := compareValues(a[o.Out], b[o.Out])
				if o.Desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if plan.Limit > 0 && int64(len(rel.Rows)) > plan.Limit {
		rel.Rows = rel.Rows[:plan.Limit]
	}
	return nil
}

func holds(c *sluice.Condition, row []sluice.Value) (bool, error) {
	switch c.Op {
	case "and", "or":
		for _, a := range c.Args {
			ok, err := holds(a, row)
			if err != nil {
				return false, err
			}
			if c.Op == "and" && !ok {
				return false, nil
			}
			if c.Op == "or" && ok {
				return true, nil
			}
		}
		return c.Op == "and", nil
	case "not":
		ok, err := holds(c.Args[0], row)
		return !ok, err
	}
	if c.Out < 0 || c.Out >= len(row) {
		return false, fmt.Errorf("having refers to output %d", c.Out)
	}
	v := row[c.Out]
	isNull := v.Number == nil && v.Key == nil
	switch c.Op {
	case "is_null":
		return isNull, nil
	case "is_not_null":
		return !isNull, nil
	}
	if isNull || c.Value == nil {
		return false, nil // SQL: comparisons with NULL are not true
	}
	r := compareValues(v, sluice.Value{Key: c.Value})
	switch c.Op {
	case "=":
		return r == 0, nil
	case "<>":
		return r != 0, nil
	case "<":
		return r < 0, nil
	case "<=":
		return r <= 0, nil
	case ">":
		return r > 0, nil
	case ">=":
		return r >= 0, nil
	}
	return false, fmt.Errorf("unknown having operator %s", c.Op)
}

// compareValues orders released values: NULLs last, numbers numerically,
// times chronologically, everything else by text.
func compareValues(a, b sluice.Value) int {
	av, aok := scalar(a)
	bv, bok := scalar(b)
	if !aok || !bok {
		return cmp.Compare(btoi(!aok), btoi(!bok))
	}
	if c, ok := sluice.CompareNumbers(av, bv); ok {
		return c // exact for HUGEINT and wide DECIMAL keys
	}
	switch x := av.(type) {
	case time.Time:
		if y, ok := bv.(time.Time); ok {
			return x.Compare(y)
		}
	}
	return strings.Compare(fmt.Sprint(av), fmt.Sprint(bv))
}

func scalar(v sluice.Value) (any, bool) {
	if v.Number != nil {
		return *v.Number, true
	}
	switch x := v.Key.(type) {
	case nil:
		return nil, false
	case int64:
		return x, true
	case int32:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	default:
		return x, true
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

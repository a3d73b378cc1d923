package service

import (
	"fmt"
	"math/big"
	"time"

	"sluice"
	"sluice/privacy"
	"sluice/sandbox"
)

// decodeGroups reads the bounded SQL's result: keys, __units, then
// (count, sum, sum of squares) per aggregate.
func decodeGroups(plan *sluice.Plan, res *sandbox.Result) ([]privacy.Group, error) {
	nk, na := len(plan.Groups), len(plan.Aggregates)
	if want := nk + 1 + 3*na; len(res.Columns) != want {
		return nil, fmt.Errorf("bounded result has %d columns, want %d", len(res.Columns), want)
	}
	groups := make([]privacy.Group, 0, len(res.Rows))
	for _, row := range res.Rows {
		g := privacy.Group{Keys: append([]any(nil), row[:nk]...), Aggs: make([]privacy.Partial, na)}
		units, err := toInt(row[nk])
		if err != nil {
			return nil, fmt.Errorf("units: %w", err)
		}
		g.Units = units
		for i := range na {
			base := nk + 1 + 3*i
			c, err := toInt(row[base])
			if err != nil {
				return nil, fmt.Errorf("aggregate %d count: %w", i, err)
			}
			s, err := toFloat(row[base+1])
			if err != nil {
				return nil, fmt.Errorf("aggregate %d sum: %w", i, err)
			}
			q, err := toFloat(row[base+2])
			if err != nil {
				return nil, fmt.Errorf("aggregate %d sum of squares: %w", i, err)
			}
			g.Aggs[i] = privacy.Partial{Count: c, Sum: s, SumSq: q}
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// decodeBuckets attaches the sampled quantile values to their groups.
func decodeBuckets(plan *sluice.Plan, res *sandbox.Result, groups []privacy.Group) error {
	nk := len(plan.Groups)
	if len(res.Columns) != nk+3 {
		return fmt.Errorf("quantile result has %d columns, want %d", len(res.Columns), nk+3)
	}
	index := map[string]int{}
	for i, g := range groups {
		index[keyOf(g.Keys)] = i
	}
	for _, row := range res.Rows {
		gi, ok := index[keyOf(row[:nk])]
		if !ok {
			// A group whose values are all NULL for other aggregates still has
			// a units row; a sample without one cannot happen.
			return fmt.Errorf("quantile sample for a group the main query lacks")
		}
		ai, err := toInt(row[nk])
		if err != nil || ai < 0 || int(ai) >= len(plan.Aggregates) {
			return fmt.Errorf("quantile sample for aggregate %v", row[nk])
		}
		v, err := toFloat(row[nk+1])
		if err != nil {
			return err
		}
		n, err := toInt(row[nk+2])
		if err != nil {
			return err
		}
		p := &groups[gi].Aggs[ai]
		p.Buckets = append(p.Buckets, privacy.Bucket{Value: v, Count: n})
	}
	return nil
}

func keyOf(keys []any) string {
	s := ""
	for _, k := range keys {
		switch v := k.(type) {
		case time.Time:
			s += v.UTC().Format(time.RFC3339Nano)
		default:
			s += fmt.Sprintf("%T:%v", k, k)
		}
		s += "\x00"
	}
	return s
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint64:
		return int64(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
	case float64:
		return int64(x), nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("unexpected %T", v)
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("unexpected %T", v)
}

// maxDomainGroups caps the groups filled in from declared domains.
const maxDomainGroups = 10000

// fillDomains adds a zero group for every combination of the plan's
// declared key domains that the data lacks: public groups are released
// (or suppressed by their noisy count) whether or not the data has them,
// so their presence says nothing about the data.
func fillDomains(plan *sluice.Plan, groups []privacy.Group) ([]privacy.Group, error) {
	if !plan.PublicGroups || len(plan.Groups) == 0 {
		return groups, nil
	}
	have := map[string]bool{}
	for _, g := range groups {
		have[domainKey(g.Keys)] = true
	}
	combos := 1
	for _, g := range plan.Groups {
		combos *= len(g.Domain)
		if combos > maxDomainGroups {
			return nil, fmt.Errorf("public groups: %d combinations exceed %d", combos, maxDomainGroups)
		}
	}
	idx := make([]int, len(plan.Groups))
	for c := 0; c < combos; c++ {
		keys := make([]any, len(plan.Groups))
		for k, g := range plan.Groups {
			keys[k] = g.Domain[idx[k]]
		}
		if !have[domainKey(keys)] {
			groups = append(groups, privacy.Group{Keys: keys, Aggs: make([]privacy.Partial, len(plan.Aggregates))})
		}
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < len(plan.Groups[k].Domain) {
				break
			}
			idx[k] = 0
		}
	}
	return groups, nil
}

// domainKey renders keys as the domain values they stand for (dates as
// YYYY-MM-DD), as the release matches them.
func domainKey(keys []any) string {
	s := ""
	for _, k := range keys {
		s += sluice.KeyText(k) + "\x00"
	}
	return s
}

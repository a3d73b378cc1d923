package service

import (
	"fmt"
	"math/big"

	"sluice"
	"sluice/privacy"
)

// decodeGroup reads one row of the bounded SQL's result: keys, __units,
// then (count, sum, sum of squares) per aggregate. Keys are copied; row is
// not kept.
func decodeGroup(plan *sluice.Plan, row []any) (privacy.Group, error) {
	nk, na := len(plan.Groups), len(plan.Aggregates)
	if want := nk + 1 + 3*na; len(row) != want {
		return privacy.Group{}, fmt.Errorf("bounded result has %d columns, want %d", len(row), want)
	}
	g := privacy.Group{Keys: append([]any(nil), row[:nk]...), Aggs: make([]privacy.Partial, na)}
	units, err := toInt(row[nk])
	if err != nil {
		return g, fmt.Errorf("units: %w", err)
	}
	g.Units = units
	for i := range na {
		base := nk + 1 + 3*i
		c, err := toInt(row[base])
		if err != nil {
			return g, fmt.Errorf("aggregate %d count: %w", i, err)
		}
		s, err := toFloat(row[base+1])
		if err != nil {
			return g, fmt.Errorf("aggregate %d sum: %w", i, err)
		}
		q, err := toFloat(row[base+2])
		if err != nil {
			return g, fmt.Errorf("aggregate %d sum of squares: %w", i, err)
		}
		g.Aggs[i] = privacy.Partial{Count: c, Sum: s, SumSq: q}
	}
	return g, nil
}

// bucketSink attaches the rows of the quantile SQL's result, (keys, aggregate
// index, value, count), to the kept groups they belong to; rows of groups
// the selection dropped are skipped.
type bucketSink struct {
	plan  *sluice.Plan
	index map[string]*privacy.Group
}

func newBucketSink(plan *sluice.Plan, groups []*privacy.Group) *bucketSink {
	b := &bucketSink{plan: plan, index: make(map[string]*privacy.Group, len(groups))}
	for _, g := range groups {
		b.index[privacy.EncodeKeys(g.Keys)] = g
	}
	return b
}

func (b *bucketSink) add(row []any) error {
	nk := len(b.plan.Groups)
	if len(row) != nk+3 {
		return fmt.Errorf("quantile result has %d columns, want %d", len(row), nk+3)
	}
	g, ok := b.index[privacy.EncodeKeys(row[:nk])]
	if !ok {
		return nil
	}
	ai, err := toInt(row[nk])
	if err != nil || ai < 0 || int(ai) >= len(b.plan.Aggregates) {
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
	p := &g.Aggs[ai]
	p.Buckets = append(p.Buckets, privacy.Bucket{Value: v, Count: n})
	return nil
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

package api

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"sluice"
)

// Media types a release can be rendered as.
const (
	mediaJSON  = "application/json"
	mediaCSV   = "text/csv"
	mediaArrow = "application/vnd.apache.arrow.stream"
)

// negotiate picks the response type from the Accept header.
func negotiate(accept string) (string, error) {
	if accept == "" {
		return mediaJSON, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case mediaJSON, "*/*", "application/*":
			return mediaJSON, nil
		case mediaCSV, "text/*":
			return mediaCSV, nil
		case mediaArrow:
			return mediaArrow, nil
		}
	}
	return "", &sluice.Error{Code: sluice.EINVALID, Rule: "request.accept", Message: "a release can be application/json, text/csv or " + mediaArrow}
}

// budgetHeaders describe the spend of a release in headers, for CSV and
// Arrow bodies that cannot carry it.
func budgetHeaders(w http.ResponseWriter, rel *sluice.Release) {
	w.Header().Set("Sluice-Epsilon", strconv.FormatFloat(rel.Epsilon, 'g', -1, 64))
	w.Header().Set("Sluice-Delta", strconv.FormatFloat(rel.Delta, 'g', -1, 64))
	w.Header().Set("Sluice-Suppressed", strconv.Itoa(len(rel.Suppressed)))
}

func writeRelease(w http.ResponseWriter, r *http.Request, resp QueryResponse) error {
	mt, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		return err
	}
	rel := resp.Release
	switch mt {
	case mediaCSV:
		budgetHeaders(w, rel)
		w.Header().Set("Content-Type", mediaCSV)
		return rel.WriteCSV(w)
	case mediaArrow:
		budgetHeaders(w, rel)
		w.Header().Set("Content-Type", mediaArrow)
		return writeArrow(w, rel)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// writeArrow renders a release as one Arrow IPC stream record batch: keys
// as strings, aggregates as float64 with their interval bounds.
func writeArrow(w http.ResponseWriter, rel *sluice.Release) error {
	var fields []arrow.Field
	for _, c := range rel.Columns {
		if c.Kind != "aggregate" {
			fields = append(fields, arrow.Field{Name: c.Name, Type: arrow.BinaryTypes.String, Nullable: true})
			continue
		}
		fields = append(fields,
			arrow.Field{Name: c.Name, Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			arrow.Field{Name: c.Name + "_ci95_lower", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			arrow.Field{Name: c.Name + "_ci95_upper", Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	meta := arrow.NewMetadata([]string{"sluice.epsilon", "sluice.delta"}, []string{strconv.FormatFloat(rel.Epsilon, 'g', -1, 64), strconv.FormatFloat(rel.Delta, 'g', -1, 64)})
	schema := arrow.NewSchema(fields, &meta)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, row := range rel.Rows {
		f := 0
		for i, v := range row {
			if rel.Columns[i].Kind != "aggregate" {
				sb := b.Field(f).(*array.StringBuilder)
				if v.Key == nil {
					sb.AppendNull()
				} else {
					sb.Append(sluice.KeyText(v.Key))
				}
				f++
				continue
			}
			for j, x := range []*float64{v.Number, ciLower(v.CI), ciUpper(v.CI)} {
				fb := b.Field(f + j).(*array.Float64Builder)
				if x == nil {
					fb.AppendNull()
				} else {
					fb.Append(*x)
				}
			}
			f += 3
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	iw := ipc.NewWriter(w, ipc.WithSchema(schema))
	if err := iw.Write(rec); err != nil {
		return err
	}
	return iw.Close()
}

func ciLower(ci *sluice.Interval) *float64 {
	if ci == nil {
		return nil
	}
	return &ci.Lower
}

func ciUpper(ci *sluice.Interval) *float64 {
	if ci == nil {
		return nil
	}
	return &ci.Upper
}

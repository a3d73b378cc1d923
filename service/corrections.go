package service

import (
	"context"
	"encoding/json"
	"slices"
	"sort"

	"sluice"
)

const (
	bucketCorrections = "corrections"
	bucketVersions    = "dataset.versions"
)

// ReportError files a suspected data error on a dataset.
func (s *Service) ReportError(ctx context.Context, p *sluice.Principal, dataset, column, description string) (*sluice.Correction, error) {
	if description == "" {
		return nil, invalid("correction.description", "describe the suspected error")
	}
	d, err := s.Dataset(ctx, p, dataset)
	if err != nil {
		return nil, err
	}
	if column != "" && d.Column(column) == nil {
		return nil, invalid("correction.column", "dataset %s has no column %q", d.ID, column)
	}
	now := s.now().UTC()
	c := &sluice.Correction{ID: newID("corr_"), Dataset: d.ID, Version: d.Version, Column: column, Description: description,
		Reporter: p.Subject, Organisation: p.Organisation, State: "open",
		History: []sluice.Transition{{To: "open", By: p.Subject, Org: p.Organisation, At: now}}}
	if err := s.store.Update(ctx, func(tx sluice.Tx) error { return putJSON(tx, bucketCorrections, c.ID, c) }); err != nil {
		return nil, err
	}
	if err := s.event(ctx, "correction.reported", p, map[string]any{"dataset": d.ID, "correction": c.ID}); err != nil {
		return nil, err
	}
	return c, nil
}

// AnswerCorrection records the owner's answer; state is answered,
// resolved (the data was corrected) or rejected (no error found).
func (s *Service) AnswerCorrection(ctx context.Context, p *sluice.Principal, id, state, answer string) (*sluice.Correction, error) {
	if err := requireRole(p, sluice.RoleOwner); err != nil {
		return nil, err
	}
	if !slices.Contains([]string{"answered", "resolved", "rejected"}, state) {
		return nil, invalid("correction.state", "state must be answered, resolved or rejected")
	}
	if answer == "" {
		return nil, invalid("correction.answer", "an answer is required")
	}
	var out *sluice.Correction
	err := s.store.Update(ctx, func(tx sluice.Tx) error {
		var c *sluice.Correction
		if err := getJSON(tx, bucketCorrections, id, &c); err != nil {
			return err
		}
		if c == nil {
			return sluice.Errorf(sluice.ENOTFOUND, "correction %q not found", id)
		}
		d, err := tx.Dataset(c.Dataset)
		if err != nil {
			return err
		}
		if d.Owner != p.Organisation {
			return forbidden("correction.owner", "only the owner of %s (%s) may answer", d.ID, d.Owner)
		}
		if c.State == "resolved" || c.State == "rejected" {
			return conflict("correction.state", "correction %s is already %s", id, c.State)
		}
		c.History = append(c.History, sluice.Transition{From: c.State, To: state, By: p.Subject, Org: p.Organisation, At: s.now().UTC(), Reason: answer})
		c.State, c.Answer = state, answer
		out = c
		return putJSON(tx, bucketCorrections, id, c)
	})
	if err != nil {
		return nil, err
	}
	if err := s.event(ctx, "correction."+state, p, map[string]any{"dataset": out.Dataset, "correction": id}); err != nil {
		return nil, err
	}
	return out, nil
}

// Corrections lists the reports a principal may see: those filed by their
// organisation, and those on datasets their organisation owns.
func (s *Service) Corrections(ctx context.Context, p *sluice.Principal) ([]*sluice.Correction, error) {
	owned := map[string]bool{}
	for _, d := range s.catalog.List() {
		if d.Owner == p.Organisation {
			owned[d.ID] = true
		}
	}
	var out []*sluice.Correction
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		return tx.Scan(bucketCorrections, "", func(k string, v []byte) bool {
			var c sluice.Correction
			if json.Unmarshal(v, &c) == nil && (c.Organisation == p.Organisation || owned[c.Dataset] || p.Has(sluice.RoleAuditor)) {
				out = append(out, &c)
			}
			return true
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].History[0].At.Before(out[j].History[0].At) })
	return out, err
}

// SetDatasetStatus lets an owner deprecate, close or reopen a dataset.
// Closing stops queries under every authorization at once: the policy
// reads the catalog on every query.
func (s *Service) SetDatasetStatus(ctx context.Context, p *sluice.Principal, id, status, reason string) (*sluice.Dataset, error) {
	if err := requireRole(p, sluice.RoleOwner); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, invalid("dataset.reason", "a reason is required")
	}
	var out *sluice.Dataset
	err := s.store.Update(ctx, func(tx sluice.Tx) error {
		d, err := tx.Dataset(id)
		if err != nil {
			return err
		}
		if d.Owner != p.Organisation {
			return forbidden("dataset.owner", "dataset %s belongs to %s", d.ID, d.Owner)
		}
		switch status {
		case "deprecated":
			d.Deprecated = true
		case "closed":
			d.Open = sluice.Closed
		case "conditional":
			d.Open, d.Deprecated = sluice.Conditional, false
		case "open":
			d.Open, d.Deprecated = sluice.Open, false
		default:
			return invalid("dataset.status", "status must be deprecated, closed, conditional or open")
		}
		d.UpdatedAt = s.now().UTC()
		out = d
		return tx.PutDataset(d)
	})
	if err != nil {
		return nil, err
	}
	if err := s.event(ctx, "dataset."+status, p, map[string]any{"dataset": id, "reason": reason}); err != nil {
		return nil, err
	}
	return out, nil
}

// DatasetVersions lists the versions of a dataset the catalog has served,
// oldest first; earlier versions stay readable to reproduce past releases.
func (s *Service) DatasetVersions(ctx context.Context, p *sluice.Principal, id string) ([]*sluice.Dataset, error) {
	if _, err := s.Dataset(ctx, p, id); err != nil {
		return nil, err
	}
	var out []*sluice.Dataset
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		return tx.Scan(bucketVersions, id+"@", func(k string, v []byte) bool {
			var d sluice.Dataset
			if len(v) > 0 && json.Unmarshal(v, &d) == nil {
				out = append(out, &d)
			}
			return true
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].UpdatedAt.Before(out[j].UpdatedAt) })
	return out, err
}

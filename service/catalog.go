package service

import (
	"context"
	"path/filepath"
	"strings"

	"sluice"
	"sluice/storage"
)

// StoreCatalog is the catalog of the running service: registered datasets
// in the control-plane database. Local locations are relative to Dir.
type StoreCatalog struct {
	Store sluice.Store
	Dir   string
}

// Get returns a dataset with its location resolved.
func (c *StoreCatalog) Get(id string) (*sluice.Dataset, error) {
	var d *sluice.Dataset
	err := c.Store.View(context.Background(), func(tx sluice.Tx) error {
		var err error
		d, err = tx.Dataset(strings.ToLower(id))
		return err
	})
	if err != nil {
		return nil, err
	}
	c.resolve(d)
	return d, nil
}

// List returns every dataset, by id.
func (c *StoreCatalog) List() []*sluice.Dataset {
	var out []*sluice.Dataset
	_ = c.Store.View(context.Background(), func(tx sluice.Tx) error {
		var err error
		out, err = tx.Datasets()
		return err
	})
	for _, d := range out {
		c.resolve(d)
	}
	return out
}

func (c *StoreCatalog) resolve(d *sluice.Dataset) {
	if !strings.HasPrefix(d.Location, "s3://") && !filepath.IsAbs(d.Location) {
		d.Location = filepath.Join(c.Dir, d.Location)
	}
}

// Datasets lists the catalog a principal may read: open and conditional
// datasets for everyone; closed ones only for their owner and admins.
func (s *Service) Datasets(ctx context.Context, p *sluice.Principal) []*sluice.Dataset {
	var out []*sluice.Dataset
	for _, d := range s.catalog.List() {
		if d.Open != sluice.Closed || d.Owner == p.Organisation || p.Has(sluice.RoleAdmin) {
			out = append(out, d)
		}
	}
	return out
}

// Dataset returns one catalog entry a principal may read.
func (s *Service) Dataset(ctx context.Context, p *sluice.Principal, id string) (*sluice.Dataset, error) {
	d, err := s.catalog.Get(id)
	if err != nil {
		return nil, err
	}
	if d.Open == sluice.Closed && d.Owner != p.Organisation && !p.Has(sluice.RoleAdmin) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "dataset %q not found", id)
	}
	return d, nil
}

// RegisterDataset registers or updates a dataset's manifest. Only its
// owner organisation may; a local location must stay inside the data
// directory.
func (s *Service) RegisterDataset(ctx context.Context, p *sluice.Principal, d *sluice.Dataset) (*sluice.Dataset, error) {
	if err := requireRole(p, sluice.RoleOwner); err != nil {
		return nil, err
	}
	if s.store == nil {
		return nil, sluice.Errorf(sluice.EUNAVAILABLE, "no control-plane database")
	}
	if d.Owner != p.Organisation {
		return nil, forbidden("dataset.owner", "owner %q must be your organisation (%s)", d.Owner, p.Organisation)
	}
	if !strings.HasPrefix(d.Location, "s3://") {
		clean := filepath.Clean(d.Location)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, invalid("dataset.location", "location %q must be s3://bucket/key or a path inside the data directory", d.Location)
		}
		d.Location = clean
	}
	if err := storage.ValidateDataset(d); err != nil {
		return nil, &sluice.Error{Code: sluice.EINVALID, Rule: "dataset.manifest", Message: err.Error()}
	}
	d.UpdatedAt = s.now().UTC()
	d.Imported = false // only an import writes a file Sluice may later remove
	err := s.store.Update(ctx, func(tx sluice.Tx) error {
		old, err := tx.Dataset(d.ID)
		switch {
		case err == nil && old.Owner != p.Organisation:
			return forbidden("dataset.owner", "dataset %s belongs to %s", d.ID, old.Owner)
		case err != nil && sluice.ErrorCode(err) != sluice.ENOTFOUND:
			return err
		}
		all, err := tx.Datasets()
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.ID != d.ID && o.Population != "" && o.Population == d.Population {
				if err := storage.SameUnitType(o, d); err != nil {
					return &sluice.Error{Code: sluice.EINVALID, Rule: "dataset.unit_type", Message: err.Error()}
				}
			}
		}
		// Every version is kept, so past releases can be reproduced.
		if err := putJSON(tx, bucketVersions, d.ID+"@"+d.Version, d); err != nil {
			return err
		}
		return tx.PutDataset(d)
	})
	if err != nil {
		return nil, err
	}
	if err := s.event(ctx, "dataset.registered", p, map[string]any{"dataset": d.ID, "version": d.Version}); err != nil {
		return nil, err
	}
	return d, nil
}

// Seed registers datasets at startup (trusted: no owner check), keeping
// any that are already registered.
func (s *Service) Seed(ctx context.Context, ds []*sluice.Dataset, dir string) error {
	return s.store.Update(ctx, func(tx sluice.Tx) error {
		for _, d := range ds {
			if _, err := tx.Dataset(d.ID); err == nil {
				continue
			}
			c := *d
			if rel, err := filepath.Rel(dir, c.Location); err == nil && !strings.HasPrefix(rel, "..") {
				c.Location = rel
			}
			if err := tx.PutDataset(&c); err != nil {
				return err
			}
		}
		return nil
	})
}

package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sluice"
	"sluice/storage/importer"
	"sluice/storage/s3"
)

// ObjectStore is S3-compatible object storage (MinIO on premises), read
// through a local cache.
type ObjectStore interface {
	Put(ctx context.Context, loc string, r io.Reader, size int64) (s3.Object, error)
	Fetch(ctx context.Context, loc string) (string, s3.Object, error)
	Remove(ctx context.Context, loc string) error
}

// MaxUpload caps an uploaded dataset file.
const MaxUpload = 4 << 30

var versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ImportRequest is a new version of a registered dataset.
type ImportRequest struct {
	Dataset string
	Version string
	Format  string // csv or parquet
	Body    io.Reader
	Options importer.Options
}

// ImportVersion checks an owner's file against the dataset's manifest,
// converts it to Parquet, stores it (in object storage when the dataset
// lives there), and switches the catalog to the new version in one
// transaction. A file that does not fit is refused with the data-quality
// report, and nothing is published.
func (s *Service) ImportVersion(ctx context.Context, p *sluice.Principal, req ImportRequest) (*sluice.Dataset, *importer.Report, error) {
	if err := requireRole(p, sluice.RoleOwner); err != nil {
		return nil, nil, err
	}
	if !versionPattern.MatchString(req.Version) {
		return nil, nil, invalid("import.version", "version %q must be 1–64 letters, digits, dots, dashes or underscores", req.Version)
	}
	if req.Format != "csv" && req.Format != "parquet" {
		return nil, nil, invalid("import.format", "format must be csv or parquet, got %q", req.Format)
	}
	var cur *sluice.Dataset
	if err := s.store.View(ctx, func(tx sluice.Tx) error {
		var err error
		cur, err = tx.Dataset(req.Dataset)
		return err
	}); err != nil {
		return nil, nil, err
	}
	if cur.Owner != p.Organisation {
		return nil, nil, forbidden("dataset.owner", "dataset %s belongs to %s", cur.ID, cur.Owner)
	}
	if cur.Version == req.Version {
		return nil, nil, conflict("import.version", "dataset %s already has version %s", cur.ID, req.Version)
	}
	if s.dataDir == "" {
		return nil, nil, sluice.Errorf(sluice.EUNAVAILABLE, "no data directory for imports")
	}
	uploads := filepath.Join(s.dataDir, ".uploads")
	if err := os.MkdirAll(uploads, 0o700); err != nil {
		return nil, nil, err
	}
	src, err := os.CreateTemp(uploads, cur.ID+"-*."+req.Format)
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(src.Name())
	n, err := io.Copy(src, io.LimitReader(req.Body, MaxUpload+1))
	if cerr := src.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("receive upload: %w", err)
	}
	if n > MaxUpload {
		return nil, nil, invalid("import.size", "the file exceeds %d bytes", MaxUpload)
	}
	next := *cur
	next.Version = req.Version
	rel := filepath.Join(cur.ID, req.Version+".parquet")
	dst := filepath.Join(s.dataDir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return nil, nil, err
	}
	report, err := importer.Import(ctx, src.Name(), &next, dst, req.Options)
	if err != nil {
		return nil, report, err
	}
	next.Checksum = report.OutputChecksum
	next.Location = rel
	if strings.HasPrefix(cur.Location, "s3://") {
		if s.objects == nil {
			os.Remove(dst)
			return nil, report, sluice.Errorf(sluice.EUNAVAILABLE, "dataset %s lives in object storage, which is not configured", cur.ID)
		}
		bucket, _, err := s3.ParseLocation(cur.Location)
		if err != nil {
			return nil, report, err
		}
		loc := fmt.Sprintf("s3://%s/%s/%s.parquet", bucket, cur.ID, req.Version)
		f, err := os.Open(dst)
		if err != nil {
			return nil, report, err
		}
		info, _ := f.Stat()
		_, err = s.objects.Put(ctx, loc, f, info.Size())
		f.Close()
		os.Remove(dst)
		if err != nil {
			return nil, report, err
		}
		next.Location = loc
	}
	// Publish: the catalog switches to the new version in one transaction.
	next.UpdatedAt = s.now().UTC()
	err = s.store.Update(ctx, func(tx sluice.Tx) error {
		now, err := tx.Dataset(cur.ID)
		if err != nil {
			return err
		}
		if now.Version != cur.Version {
			return conflict("import.version", "dataset %s changed version during the import", cur.ID)
		}
		if err := putJSON(tx, bucketVersions, next.ID+"@"+next.Version, &next); err != nil {
			return err
		}
		return tx.PutDataset(&next)
	})
	if err != nil {
		return nil, report, err
	}
	if err := s.event(ctx, "dataset.version_imported", p, map[string]any{"dataset": next.ID, "version": next.Version, "rows": report.Rows, "checksum": next.Checksum}); err != nil {
		return nil, report, err
	}
	if s.retention > 0 {
		if err := s.retire(ctx, p, next.ID, s.retention); err != nil {
			return nil, report, err
		}
	}
	return &next, report, nil
}

// retire applies the version retention: versions beyond the newest keep
// (never the current one) leave the catalog's version list and their local
// files are removed, and so are their objects in object storage where
// Sluice's imports put them (<bucket>/<dataset>/<version>.parquet, with
// their cached copies); objects an owner registered elsewhere are theirs
// and are left. Releases already made keep their records in the
// ledger and the audit trail.
func (s *Service) retire(ctx context.Context, p *sluice.Principal, id string, keep int) error {
	versions, err := s.DatasetVersions(ctx, p, id)
	if err != nil || len(versions) <= keep {
		return err
	}
	cur, err := s.catalog.Get(id)
	if err != nil {
		return err
	}
	old := versions[:len(versions)-keep]
	var removed []string
	err = s.store.Update(ctx, func(tx sluice.Tx) error {
		for _, v := range old {
			if v.Version == cur.Version {
				continue
			}
			if err := tx.Put(bucketVersions, v.ID+"@"+v.Version, nil); err != nil {
				return err
			}
			removed = append(removed, v.Version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range old {
		switch {
		case v.Version == cur.Version || v.Location == "":
		case strings.HasPrefix(v.Location, "s3://"):
			if s.objects != nil && importedObject(v) {
				if err := s.objects.Remove(ctx, v.Location); err != nil {
					errs = append(errs, err)
				}
			}
		default:
			os.Remove(filepath.Join(s.dataDir, v.Location))
		}
	}
	if len(errs) > 0 {
		// The versions have left the catalog; what could not be removed is
		// logged for the operators and does not fail the import.
		s.log.Warn("retired versions' objects not removed", "dataset", id, "error", errors.Join(errs...))
	}
	if len(removed) > 0 {
		return s.event(ctx, "dataset.versions_retired", p, map[string]any{"dataset": id, "versions": removed})
	}
	return nil
}

// importedObject reports whether a version's object is where an import
// writes it: s3://<bucket>/<dataset>/<version>.parquet.
func importedObject(v *sluice.Dataset) bool {
	bucket, _, err := s3.ParseLocation(v.Location)
	return err == nil && v.Location == fmt.Sprintf("s3://%s/%s/%s.parquet", bucket, v.ID, v.Version)
}

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
	Stat(ctx context.Context, loc string) (s3.Object, error)
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
	if err := s.store.View(ctx, func(tx sluice.Tx) error { return versionUnused(tx, cur.ID, req.Version) }); err != nil {
		return nil, nil, err
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
	next.Imported = true
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
		// Never overwrite an object Sluice did not write for this version:
		// retention may later remove what an import wrote.
		if _, err := s.objects.Stat(ctx, loc); err == nil {
			os.Remove(dst)
			return nil, report, conflict("import.location", "an object already exists at %s", loc)
		} else if sluice.ErrorCode(err) != sluice.ENOTFOUND {
			os.Remove(dst)
			return nil, report, err
		}
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
		if err := versionUnused(tx, cur.ID, next.Version); err != nil {
			return err
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
// (never the current one) leave the catalog's version list. The files of
// those an import wrote (Imported) are removed, locally or in object
// storage (with their cached copies), unless a version kept, or any
// dataset's current version, still points at the same location; files an
// owner registered are theirs and are left. Releases already made keep
// their records in the ledger and the audit trail.
func (s *Service) retire(ctx context.Context, p *sluice.Principal, id string, keep int) error {
	versions, err := s.DatasetVersions(ctx, p, id)
	if err != nil || len(versions) <= keep {
		return err
	}
	old := versions[:len(versions)-keep]
	var removed []string
	var files []string
	err = s.store.Update(ctx, func(tx sluice.Tx) error {
		cur, err := tx.Dataset(id)
		if err != nil {
			return err
		}
		inUse := map[string]bool{}
		for _, v := range versions[len(versions)-keep:] {
			inUse[v.Location] = true
		}
		all, err := tx.Datasets()
		if err != nil {
			return err
		}
		for _, d := range all {
			inUse[d.Location] = true
		}
		for _, v := range old {
			if v.Version == cur.Version {
				continue
			}
			if err := tx.Put(bucketVersions, v.ID+"@"+v.Version, nil); err != nil {
				return err
			}
			removed = append(removed, v.Version)
			if v.Imported && v.Location != "" && !inUse[v.Location] {
				files = append(files, v.Location)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, loc := range files {
		switch {
		case strings.HasPrefix(loc, "s3://"):
			if s.objects == nil {
				errs = append(errs, fmt.Errorf("%s: object storage is not configured", loc))
			} else if err := s.objects.Remove(ctx, loc); err != nil {
				errs = append(errs, err)
			}
		default:
			if err := os.Remove(filepath.Join(s.dataDir, loc)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		// The versions have left the catalog; what could not be removed is
		// logged for the operators and does not fail the import.
		s.log.Warn("retired versions' files not removed", "dataset", id, "error", errors.Join(errs...))
	}
	if len(removed) > 0 {
		return s.event(ctx, "dataset.versions_retired", p, map[string]any{"dataset": id, "versions": removed})
	}
	return nil
}

// versionUnused refuses a version name a dataset has had before, retired
// or not: past releases name it, and its file may still be read.
func versionUnused(tx sluice.Tx, id, version string) error {
	key := id + "@" + version
	used := false
	err := tx.Scan(bucketVersions, key, func(k string, _ []byte) bool {
		used = k == key
		return !used
	})
	if err != nil {
		return err
	}
	if used {
		return conflict("import.version", "dataset %s already had version %s; a version name is never reused", id, version)
	}
	return nil
}

// Package bolt implements sluice.Store over an embedded bbolt database: one
// file in the data directory, serializable read-write transactions (one
// writer at a time), fsynced on commit.
package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"sluice"
)

var (
	bApplications   = []byte("applications")
	bAuthorizations = []byte("authorizations")
	bDatasets       = []byte("datasets")
)

// Store is a sluice.Store in a bbolt file.
type Store struct {
	db *bbolt.DB
}

var _ sluice.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path. It fails if
// another process holds the file.
func Open(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open control-plane database %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bApplications, bAuthorizations, bDatasets} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise control-plane database: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(sluice.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error { return fn(&txn{tx: tx}) })
}

// Update runs fn in a read-write transaction.
func (s *Store) Update(ctx context.Context, fn func(sluice.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return fn(&txn{tx: tx, write: true}) })
}

type txn struct {
	tx    *bbolt.Tx
	write bool
}

func get[T any](t *txn, bucket []byte, kind, id string) (*T, error) {
	v := t.tx.Bucket(bucket).Get([]byte(id))
	if v == nil {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "%s %q not found", kind, id)
	}
	out := new(T)
	if err := json.Unmarshal(v, out); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", kind, id, err)
	}
	return out, nil
}

func put(t *txn, bucket []byte, id string, v any) error {
	if id == "" {
		return errors.New("record without id")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucket).Put([]byte(id), b)
}

func all[T any](t *txn, bucket []byte) ([]*T, error) {
	var out []*T
	err := t.tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		x := new(T)
		if err := json.Unmarshal(v, x); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

func (t *txn) Application(id string) (*sluice.Application, error) {
	return get[sluice.Application](t, bApplications, "application", id)
}
func (t *txn) PutApplication(a *sluice.Application) error { return put(t, bApplications, a.ID, a) }
func (t *txn) Applications() ([]*sluice.Application, error) {
	return all[sluice.Application](t, bApplications)
}
func (t *txn) Authorization(id string) (*sluice.Authorization, error) {
	return get[sluice.Authorization](t, bAuthorizations, "authorization", id)
}
func (t *txn) PutAuthorization(a *sluice.Authorization) error {
	return put(t, bAuthorizations, a.ID, a)
}
func (t *txn) Authorizations() ([]*sluice.Authorization, error) {
	return all[sluice.Authorization](t, bAuthorizations)
}
func (t *txn) Dataset(id string) (*sluice.Dataset, error) {
	return get[sluice.Dataset](t, bDatasets, "dataset", id)
}
func (t *txn) PutDataset(d *sluice.Dataset) error { return put(t, bDatasets, d.ID, d) }
func (t *txn) Datasets() ([]*sluice.Dataset, error) {
	ds, err := all[sluice.Dataset](t, bDatasets)
	sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
	return ds, err
}

func (t *txn) bucket(name string) (*bbolt.Bucket, error) {
	b := t.tx.Bucket([]byte("x:" + name))
	if b != nil || !t.write {
		return b, nil
	}
	return t.tx.CreateBucketIfNotExists([]byte("x:" + name))
}

func (t *txn) Get(bucket, key string) ([]byte, error) {
	b, err := t.bucket(bucket)
	if err != nil || b == nil {
		return nil, err
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	return append([]byte(nil), v...), nil
}

func (t *txn) Put(bucket, key string, value []byte) error {
	if !t.write {
		return errors.New("write in a read-only transaction")
	}
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), value)
}

func (t *txn) Scan(bucket, prefix string, fn func(key string, value []byte) bool) error {
	b, err := t.bucket(bucket)
	if err != nil || b == nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
		if !fn(string(k), append([]byte(nil), v...)) {
			break
		}
	}
	return nil
}

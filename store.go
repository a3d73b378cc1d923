package sluice

import "context"

// Store is the control-plane database: applications, authorizations,
// registered datasets, and (for the ledger) budget records. Every change
// happens in a transaction; an embedded implementation ships by default and
// a networked one can implement the same interface.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction: all of fn's writes land,
	// or none do (fn's error aborts them).
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction of the Store. Getters return ENOTFOUND errors for
// missing records.
type Tx interface {
	Application(id string) (*Application, error)
	PutApplication(a *Application) error
	Applications() ([]*Application, error)

	Authorization(id string) (*Authorization, error)
	PutAuthorization(a *Authorization) error
	Authorizations() ([]*Authorization, error)

	Dataset(id string) (*Dataset, error)
	PutDataset(d *Dataset) error
	Datasets() ([]*Dataset, error)

	// Get and Put read and write opaque records of other subsystems (the
	// budget ledger, the release cache) in a named bucket.
	Get(bucket, key string) ([]byte, error) // nil, nil when absent
	Put(bucket, key string, value []byte) error
	// Scan calls fn for each key with the prefix, in key order, until fn
	// returns false.
	Scan(bucket, prefix string, fn func(key string, value []byte) bool) error
}

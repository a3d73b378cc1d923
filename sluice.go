// Package sluice holds the vocabulary of Sluice, a privacy-preserving data
// sandbox: datasets and their column roles, principals, applications,
// authorizations, query plans, policy decisions and releases.
//
// The package has no dependencies on the rest of the module. Subpackages
// implement the behaviour (query analysis, policy, privacy, sandbox, storage)
// and talk to each other only in terms of these types.
package sluice

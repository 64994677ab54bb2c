// Package storetest is the one conformance suite every store.Store backend
// must pass: Run(t, open) with a function that opens a fresh, empty store.
// It uses only the store interface, never backend details, so the SQLite
// backend today and a PostgreSQL backend later run the same checks.
//
// storetest imports tracker/store and the standard library only.
package storetest

// Package storage is the contract between Pillars and the databases that keep
// its records.
//
// Adapter authors implement [Backend] and [Tx], a dozen methods in all: a
// document store with optimistic versions, queries on declared indexed fields
// with opaque cursor pagination, per-kind number sequences that kept numbers
// advance, human numbers unique per kind ([NumberField]), and the domain
// event log read by sequence. Everything typed sits above it: [Collection]
// maps a Go struct to documents and indexed fields, and [Records] runs
// lifecycle commands (authorise, decide, write the record and its event in
// one unit of work).
//
// Optional capabilities are extra interfaces a backend may implement, in the
// manner of database/sql/driver: [Traverser] for graph traversal (CMDB
// impact), [BulkImporter] for migrating history and [EventScanner] for
// reading the event log in place. Each has a generic fallback in this
// package ([Traverse], [Import], [ScanEvents]), and every capability check
// lives beside those fallbacks. A wrapper around a Backend hides every
// optional interface it does not re-declare itself.
//
// Every adapter proves itself with the conformance suite in
// storage/storagetest; storage/memory is the reference implementation.
package storage

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
// Custom fields sit above the contract too: a [Dictionary] (Go or a JSON
// definition document, per tenant) declares the fields a host adds to a
// kind, [Collection.WithDictionary] gives them to its collection, and
// [Records] checks them on every write, hides the internal ones, records
// each change as "custom.<name>" and indexes the indexed ones as plain
// schema fields; [Records.Reindex] fills a newly indexed field in. Values
// travel in each record's itsm.Values member "custom". The raw [Backend]
// ([Import], [Tx.Put] of an encoded document) is the host's own handle and
// checks no custom value.
//
// Every adapter proves itself with the conformance suite in
// storage/storagetest; storage/memory is the reference implementation.
package storage

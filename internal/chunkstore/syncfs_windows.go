//go:build windows

package chunkstore

// batchDurability is how a Batch writes each chunk: synced one by one,
// since there is no cheap sync of a whole volume here.
const batchDurability = SyncFile

// syncFS has nothing left to flush: each chunk was synced as it was
// written (batchDurability).
func syncFS(string) error { return nil }

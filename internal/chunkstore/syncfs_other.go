//go:build unix && !linux

package chunkstore

import "syscall"

// batchDurability is how a Batch writes each chunk: unsynced, since Sync
// flushes them with sync(2).
const batchDurability = SyncNone

// syncFS flushes file system buffers; without syncfs(2), sync(2).
func syncFS(string) error {
	syscall.Sync()
	return nil
}

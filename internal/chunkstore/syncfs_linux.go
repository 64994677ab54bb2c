//go:build linux

package chunkstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// batchDurability is how a Batch writes each chunk: unsynced, since Sync
// flushes them all with one syncfs(2).
const batchDurability = SyncNone

// syncFS flushes the whole file system holding dir with one syncfs(2).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

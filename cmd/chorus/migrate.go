package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chorus-music/chorus/tracker/store/migrate"
	"github.com/chorus-music/chorus/tracker/store/postgres"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

// runMigrate copies the data directory's SQLite store into an empty
// PostgreSQL database and verifies the copy.
func runMigrate(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "migrate", "")
	dataDir := dataFlag(fs)
	to := fs.String("to", "", "PostgreSQL database to copy into (postgres://USER:PASS@HOST/DB); it must be empty")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	if !postgres.IsURL(*to) {
		fs.Usage()
		return errors.New("migrate needs --to postgres://... (the database to copy into)")
	}
	db := trackerHome{*dataDir}.db()
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("no SQLite store to migrate: %w (set --data to the tracker's data directory)", err)
	}
	src, err := sqlite.Open(db)
	if err != nil {
		return err
	}
	defer src.Close()
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dst, err := postgres.Open(octx, *to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	reps, err := migrate.Copy(ctx, src, dst)
	if err != nil {
		return err
	}
	for _, r := range reps {
		fmt.Fprintf(env.stdout, "%-14s %8d rows  sha256 %s\n", r.Table, r.Rows, r.SHA256)
	}
	fmt.Fprintf(env.stdout, "copied %s to %s and verified every table by count and hash; run the tracker with --store\n", db, storeName(*to))
	return nil
}

package pgtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestNewGivesEmptyDatabases: two databases from New are distinct, usable
// and empty.
func TestNewGivesEmptyDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	if a == b {
		t.Fatalf("New twice = %q both times", a)
	}
	for _, url := range []string{a, b} {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("tables in a new database = %d, %v; want 0", n, err)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
			t.Fatalf("create table: %v", err)
		}
		conn.Close(ctx)
	}
}

// TestHelperNoServer is run by TestMissingServer in a child process with
// no PostgreSQL binaries to be found.
func TestHelperNoServer(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") == "" {
		t.Skip("run by TestMissingServer")
	}
	New(t)
	t.Log("got a database")
}

// TestMissingServer: without a server New skips, except under CI, where it
// fails with a message saying what to install.
func TestMissingServer(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNoServer$", "-test.v")
		cmd.Env = append(os.Environ(), "PGTEST_HELPER=1", EnvBin+"="+t.TempDir(), EnvServer+"=", "CI="+ci)
		out, err := cmd.CombinedOutput()
		switch {
		case ci == "" && (err != nil || !strings.Contains(string(out), "SKIP")):
			t.Errorf("without CI: %v\n%s\nwant a skip", err, out)
		case ci != "" && (err == nil || !strings.Contains(string(out), "FAIL") || !strings.Contains(string(out), "no initdb")):
			t.Errorf("under CI: %v\n%s\nwant a failure naming the missing initdb", err, out)
		}
	}
}

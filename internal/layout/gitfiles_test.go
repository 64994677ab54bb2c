package layout

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// largeFixtures lists the committed files allowed past maxFileSize: test
// fixtures only, each named here on purpose.
var largeFixtures = map[string]bool{}

const maxFileSize = 1 << 20

// executableMagic are the first bytes of compiled programs (ELF, Mach-O,
// PE), which never belong in git.
var executableMagic = [][]byte{
	{0x7f, 'E', 'L', 'F'},
	{0xcf, 0xfa, 0xed, 0xfe},
	{0xfe, 0xed, 0xfa, 0xcf},
	{'M', 'Z'},
}

// TestGitHoldsNoBuiltFiles keeps executables and files over 1 MB out of
// git: an executable bit is allowed only on scripts (#!), and no tracked
// file may start like a compiled program.
func TestGitHoldsNoBuiltFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed to list the tracked files: %v", err)
	}
	cmd := exec.Command("git", "ls-files", "-s", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	n := 0
	for _, rec := range strings.Split(string(out), "\x00") {
		if rec == "" {
			continue
		}
		// "MODE SHA STAGE\tPATH"
		meta, path, ok := strings.Cut(rec, "\t")
		if !ok {
			t.Fatalf("git ls-files: odd record %q", rec)
		}
		n++
		mode := strings.Fields(meta)[0]
		if mode == "120000" || mode == "160000" { // symlink, submodule
			continue
		}
		f, err := os.Open(filepath.Join(root, path))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4)
		k, _ := f.Read(head)
		head = head[:k]
		st, err := f.Stat()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxFileSize && !largeFixtures[path] {
			t.Errorf("%s is %d bytes: files over 1 MB stay out of git (or join largeFixtures if it is a fixture)", path, st.Size())
		}
		if mode == "100755" && !bytes.HasPrefix(head, []byte("#!")) {
			t.Errorf("%s is executable and not a script: built files stay out of git", path)
		}
		for _, m := range executableMagic {
			if bytes.HasPrefix(head, m) && !strings.Contains(path, "/testdata/") {
				t.Errorf("%s looks like a compiled program: built files stay out of git", path)
			}
		}
	}
	if n == 0 {
		t.Fatal("git ls-files listed nothing; the test would prove nothing")
	}
}

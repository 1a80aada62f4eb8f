package plan

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCorePackagesArePure checks that the core packages import no AWS SDK
// (or any github.com/aws module) and nothing that does I/O, by parsing the
// imports of their non-test Go files.
func TestCorePackagesArePure(t *testing.T) {
	forbidden := map[string]bool{"os": true, "net": true, "net/http": true, "os/exec": true, "io/ioutil": true, "syscall": true}
	for _, dir := range []string{"../policy", "../compliance", "."} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, "github.com/aws/") || forbidden[path] {
					t.Errorf("%s imports %q: core packages must stay pure (no AWS SDK, no I/O)", name, path)
				}
			}
		}
		if checked == 0 {
			t.Errorf("no Go files found in %s", dir)
		}
	}
}

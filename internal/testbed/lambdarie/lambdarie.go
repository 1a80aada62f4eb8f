// Package lambdarie runs trailguard's Lambda bootstraps the way Lambda
// does, under aws-lambda-rie (the Runtime Interface Emulator, pinned by the
// tool directive of go.mod), for end-to-end tests: Build compiles the
// functions and the emulator, Start runs one bootstrap under the emulator
// with a given environment, Invoke posts an event to it.
package lambdarie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Module is the aws-lambda-rie command, pinned by the tool directive of
// go.mod.
const Module = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// Functions are the function names; each is built from ./functions/<name>.
var Functions = []string{"trail-remediator", "key-remediator", "sweeper", "sweep-worker"}

// ErrNoEmulator is returned (wrapped) by Build when aws-lambda-rie cannot
// be built (no module cache and no network): tests skip or fail on it.
var ErrNoEmulator = errors.New("aws-lambda-rie unavailable")

// ModuleRoot is the directory of go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("find the module root (go env GOMOD): %v", err)
	}
	return filepath.Dir(mod), nil
}

// Build builds every function's bootstrap the way Lambda runs it (linux,
// static, lambda.norpc, for the host's architecture) into
// dir/<function>/bootstrap, and aws-lambda-rie into dir/aws-lambda-rie.
func Build(dir string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var fnErr, rieErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", dir+string(filepath.Separator), "./functions/...")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fnErr = fmt.Errorf("build functions: %v\n%s", err, out)
		}
	}()
	go func() {
		defer wg.Done()
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "aws-lambda-rie"), Module)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			rieErr = fmt.Errorf("%w: build: %v\n%s", ErrNoEmulator, err, out)
		}
	}()
	wg.Wait()
	if fnErr != nil {
		return fnErr
	}
	if rieErr != nil {
		return rieErr
	}
	for _, fn := range Functions {
		// go build -o dir/ writes dir/<function>; the bootstrap goes to
		// dir/<function>/bootstrap, so move the binary aside first.
		if err := os.Rename(filepath.Join(dir, fn), filepath.Join(dir, fn+".bin")); err != nil {
			return fmt.Errorf("place bootstrap of %s: %w", fn, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			return fmt.Errorf("place bootstrap of %s: %w", fn, err)
		}
		if err := os.Rename(filepath.Join(dir, fn+".bin"), filepath.Join(dir, fn, "bootstrap")); err != nil {
			return fmt.Errorf("place bootstrap of %s: %w", fn, err)
		}
	}
	return nil
}

// CleanEnv is this process's environment without AWS_* and TRAILGUARD_*
// variables, then extra: a function sees only what it is given.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		u := strings.ToUpper(kv)
		if !strings.HasPrefix(u, "AWS_") && !strings.HasPrefix(u, "TRAILGUARD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs bootstrap (an executable) under the emulator rie with the
// environment env and returns its invoke URL once it listens; the emulator
// and the function are stopped when t ends, and their output is logged if
// t failed. name labels the logs.
func Start(t testing.TB, rie, bootstrap, name string, env []string) string {
	t.Helper()
	port, apiPort := freePort(t), freePort(t)
	logs := &syncWriter{}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie for %s: %v", name, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// The emulator and the bootstrap it started share the process
		// group created for this pid.
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie for %s not listening: %v\n%s", name, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port)
}

// StartBuilt is Start for dir/<fn>/bootstrap and dir/aws-lambda-rie, as
// Build leaves them.
func StartBuilt(t testing.TB, dir, fn string, env []string) string {
	t.Helper()
	return Start(t, filepath.Join(dir, "aws-lambda-rie"), filepath.Join(dir, fn, "bootstrap"), fn, env)
}

// Invoke posts event to the invoke URL and returns the function's result;
// a status other than 200 fails t.
func Invoke(t testing.TB, url string, event []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	return body
}

// syncWriter collects a process's output from several goroutines.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

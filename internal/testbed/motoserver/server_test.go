//go:build unix

package motoserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || !strings.Contains(string(st), ") Z ")
}

// logOnFailure prints the server's log when the test fails (it runs before
// ForTest's Stop, which removes the log).
func logOnFailure(t *testing.T, s *Server) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(s.LogPath)
			t.Logf("moto server log %s:\n%s", s.LogPath, b)
		}
	})
}

func TestServerLifecycle(t *testing.T) {
	// The caller's AWS settings must leak neither into moto (its botocore
	// fails on a missing profile) nor into AWSConfig.
	t.Setenv("AWS_PROFILE", "no-such-profile-"+strconv.Itoa(os.Getpid()))
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "missing"))
	s := ForTest(t)
	logOnFailure(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") || s.Endpoint != "http://127.0.0.1:"+strconv.Itoa(s.Port) {
		t.Errorf("Endpoint = %q, Port = %d", s.Endpoint, s.Port)
	}
	pid := s.cmd.Process.Pid
	if !alive(pid) {
		t.Fatalf("server process %d is not running", pid)
	}
	if _, err := os.Stat(s.LogPath); err != nil {
		t.Errorf("log file: %v", err)
	}

	cfg, err := s.AWSConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != DefaultRegion || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != s.Endpoint {
		t.Errorf("AWSConfig: region %q endpoint %v", cfg.Region, aws.ToString(cfg.BaseEndpoint))
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got := aws.ToString(id.Account); got != AccountID {
		t.Errorf("account = %q, want moto's %s", got, AccountID)
	}

	kmsc := kms.NewFromConfig(cfg)
	key, err := kmsc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("trailguard test")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	if !strings.HasPrefix(keyARN, "arn:aws:kms:us-east-1:"+AccountID+":key/") {
		t.Errorf("key ARN = %q", keyARN)
	}
	s3c := s3.NewFromConfig(cfg, S3Options)
	const bucket = "trailguard-test-logs"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	ct := cloudtrail.NewFromConfig(cfg)
	created, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{
		Name: aws.String("test-trail"), S3BucketName: aws.String(bucket), KmsKeyId: aws.String(keyARN),
	})
	if err != nil {
		t.Fatalf("CreateTrail: %v", err)
	}
	trailARN := aws.ToString(created.TrailARN)

	got, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(trailARN)})
	if err != nil {
		t.Fatalf("GetTrail: %v", err)
	}
	if aws.ToString(got.Trail.KmsKeyId) != keyARN || aws.ToString(got.Trail.S3BucketName) != bucket {
		t.Errorf("trail read back: key %q bucket %q; want %q %q", aws.ToString(got.Trail.KmsKeyId), aws.ToString(got.Trail.S3BucketName), keyARN, bucket)
	}
	desc, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
	if err != nil {
		t.Fatalf("DescribeKey: %v", err)
	}
	if desc.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		t.Errorf("key state = %s", desc.KeyMetadata.KeyState)
	}

	// Another Region of the same server.
	cfgEU, err := s.AWSConfig(ctx, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	keyEU, err := kms.NewFromConfig(cfgEU).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey eu-west-1: %v", err)
	}
	if arn := aws.ToString(keyEU.KeyMetadata.Arn); !strings.Contains(arn, ":eu-west-1:") {
		t.Errorf("eu-west-1 key ARN = %q", arn)
	}

	if err := s.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	var notFound *kmstypes.NotFoundException
	if _, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)}); !errors.As(err, &notFound) {
		t.Errorf("DescribeKey after Reset: %v, want NotFoundException", err)
	}
	if _, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(trailARN)}); err == nil {
		t.Error("GetTrail after Reset succeeded, want TrailNotFound")
	}
	buckets, err := s3c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(buckets.Buckets) != 0 {
		t.Errorf("buckets after Reset: %d", len(buckets.Buckets))
	}

	logPath := s.LogPath
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if alive(pid) {
		t.Errorf("server process %d still running after Stop", pid)
	}
	for _, u := range []string{s.Endpoint, s.moto} {
		if _, err := net.DialTimeout("tcp", u[len("http://"):], time.Second); err == nil {
			t.Errorf("%s still accepts connections after Stop", u)
		}
	}
	if _, err := os.Stat(logPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log file after a clean Stop: %v, want it removed", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.Reset(ctx); err == nil {
		t.Error("Reset after Stop succeeded")
	}
}

func TestTwoServersAreIsolated(t *testing.T) {
	a, b := ForTest(t), ForTest(t)
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
	ctx := context.Background()
	cfgA, err := a.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cfgB, err := b.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kms.NewFromConfig(cfgA).CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	keys, err := kms.NewFromConfig(cfgB).ListKeys(ctx, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 0 {
		t.Errorf("server B sees %d keys created on server A", len(keys.Keys))
	}
}

func TestEnv(t *testing.T) {
	s := &Server{Endpoint: "http://127.0.0.1:4566"}
	want := []string{
		"AWS_ENDPOINT_URL=http://127.0.0.1:4566",
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if got := s.Env(); !slices.Equal(got, want) {
		t.Errorf("Env() = %q, want %q", got, want)
	}
}

func TestServerEnv(t *testing.T) {
	got := serverEnv([]string{"PATH=/bin", "AWS_PROFILE=x", "aws_region=y", "AWS_ENDPOINT_URL=http://x", "MOTO_ALLOW_NONEXISTENT_REGION=true", "HOME=/root"})
	want := []string{"PATH=/bin", "MOTO_ALLOW_NONEXISTENT_REGION=true", "HOME=/root"}
	if !slices.Equal(got, want) {
		t.Errorf("serverEnv = %q, want %q", got, want)
	}
}

func TestS3Options(t *testing.T) {
	var o s3.Options
	S3Options(&o)
	if !o.UsePathStyle {
		t.Error("S3Options did not set UsePathStyle")
	}
}

func TestFindMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Find()
	if err == nil || !strings.Contains(err.Error(), `pip install "moto[server]==5.2.1"`) {
		t.Errorf("Find() error = %v, want the install hint", err)
	}
	if _, err := Start(context.Background()); err == nil || !strings.Contains(err.Error(), "pip install") {
		t.Errorf("Start() error = %v, want the install hint", err)
	}
}

// fakeTB records what ForTest does when moto_server is missing.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Skipf(format string, args ...any)  { f.skipped = fmt.Sprintf(format, args...) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }
func (f *fakeTB) Cleanup(func())                    { panic("Cleanup must not be called when moto_server is missing") }

func TestForTestMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tests := []struct {
		ci       string
		wantSkip bool
	}{{"", true}, {"false", true}, {"true", false}}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			f := &fakeTB{}
			if s := ForTest(f); s != nil {
				t.Errorf("ForTest returned a server")
			}
			msg := f.failed
			if tt.wantSkip {
				msg = f.skipped
			}
			if (f.skipped != "") != tt.wantSkip || (f.failed != "") == tt.wantSkip {
				t.Fatalf("skipped=%q failed=%q, want skip=%v", f.skipped, f.failed, tt.wantSkip)
			}
			if !strings.Contains(msg, "moto_server not found") || !strings.Contains(msg, "pip install") {
				t.Errorf("message %q does not give the reason and the fix", msg)
			}
		})
	}
}

// fakeServer puts an executable moto_server shell script first on PATH.
func fakeServer(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, Program), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	// Logs of failed starts are kept; keep them in the test's directory.
	t.Setenv("TMPDIR", t.TempDir())
	return dir
}

func TestStartExitsEarly(t *testing.T) {
	fakeServer(t, "echo 'Traceback: ImportError: no module named flask' >&2\nexit 3\n")
	s, err := Start(context.Background())
	if err == nil {
		s.Stop()
		t.Fatal("Start succeeded with a failing moto_server")
	}
	for _, want := range []string{"exited before it was ready", "exit status 3", "ImportError: no module named flask", filepath.Join(os.TempDir(), "moto-server-")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(os.TempDir(), "moto-server-*.log"))
	if len(logs) != 1 {
		t.Errorf("want the failed start's log kept, found %q", logs)
	}
}

func TestStartRetriesPortInUse(t *testing.T) {
	dir := fakeServer(t, `echo x >> "$(dirname "$0")/calls"
echo "OSError: [Errno 98] Address already in use" >&2
exit 1
`)
	_, err := Start(context.Background())
	if err == nil || !errors.Is(err, errPortInUse) {
		t.Fatalf("Start error = %v, want errPortInUse", err)
	}
	if logs, _ := filepath.Glob(filepath.Join(os.TempDir(), "moto-server-*.log")); len(logs) != 0 {
		t.Errorf("retried starts left logs behind: %q", logs)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if n := strings.Count(string(calls), "x"); n != startTries {
		t.Errorf("moto_server started %d times, want %d", n, startTries)
	}
}

func TestStartNeverReadyKillsTheGroup(t *testing.T) {
	dir := fakeServer(t, `sleep 300 &
echo $! > "$(dirname "$0")/child.pid"
echo $$ > "$(dirname "$0")/main.pid"
wait
`)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("Start error = %v, want not ready", err)
	}
	for _, f := range []string{"main.pid", "child.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		// The child is reparented to init (or a subreaper) when the shell
		// dies; give it a moment to be reaped.
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("%s process %d still running after Start failed", f, pid)
		}
	}
}

func TestStopReportsEarlyExit(t *testing.T) {
	// A server that becomes ready and then dies: Stop says so and keeps the log.
	fakeServer(t, `exec python3 -c '
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        sys.stderr.write("served, now crashing\n"); sys.stderr.flush()
        threading.Thread(target=lambda: __import__("os")._exit(7)).start()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("-p")+1])), H).serve_forever()
' "$@"
`)
	s, err := Start(context.Background())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.Stop()
		t.Fatal("fake server did not exit")
	}
	err = s.Stop()
	if err == nil || !strings.Contains(err.Error(), "already exited") || !strings.Contains(err.Error(), "served, now crashing") {
		t.Errorf("Stop error = %v, want it to report the early exit with the log", err)
	}
	if _, statErr := os.Stat(s.LogPath); statErr != nil {
		t.Errorf("log of a crashed server was removed: %v", statErr)
	}
}

// TestSharedIsOneServerResetPerTest: every test of a package gets the same
// server, emptied.
func TestSharedIsOneServerResetPerTest(t *testing.T) {
	var shared Shared
	defer func() {
		if err := shared.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	var endpoint string
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s := shared.Get(t)
			if endpoint != "" && s.Endpoint != endpoint {
				t.Fatalf("second Get started another server: %s, then %s", endpoint, s.Endpoint)
			}
			endpoint = s.Endpoint
			cfg, err := s.AWSConfig(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			c := kms.NewFromConfig(cfg)
			out, err := c.ListKeys(context.Background(), &kms.ListKeysInput{})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Keys) != 0 {
				t.Fatalf("%d keys left from the previous test: Get must reset", len(out.Keys))
			}
			if _, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

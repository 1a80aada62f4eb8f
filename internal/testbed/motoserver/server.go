package motoserver

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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Moto's fixed identities and the settings Env and AWSConfig use.
const (
	// Program is the moto server executable looked up on PATH.
	Program = "moto_server"
	// Version is the moto version trailguard is tested with.
	Version = "5.2.1"
	// InstallHint is the command that installs moto_server.
	InstallHint = `pip install "moto[server]==` + Version + `"`
	// AccountID is moto's default account.
	AccountID = "123456789012"
	// DefaultRegion is the Region Env sets and AWSConfig uses for "".
	DefaultRegion = "us-east-1"
	// AccessKeyID and SecretAccessKey are the dummy credentials.
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 5 * time.Second
	startTries   = 3
)

// Server is a running moto server. Create it with Start or ForTest and
// end it with Stop.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT: a loopback
	// front that forwards every request to moto and lets DynamoDB
	// requests through one at a time, as DynamoDB applies a conditional
	// write or a transaction atomically and moto does not (front.go).
	Endpoint string
	// Port is Endpoint's TCP port on 127.0.0.1.
	Port int
	// LogPath is the file holding the server's stdout and stderr; Stop
	// removes it unless the server failed.
	LogPath string

	moto     string // moto's own URL, behind the front
	front    *front
	cmd      *exec.Cmd
	log      *os.File
	done     chan struct{} // closed when the process has exited and is reaped
	waitErr  error         // cmd.Wait's result, valid after done
	stopOnce sync.Once
	stopErr  error
}

// Find returns the path of moto_server on PATH, or an error that says how
// to install it.
func Find() (string, error) {
	path, err := exec.LookPath(Program)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH (%v): install it with %s", Program, err, InstallHint)
	}
	return path, nil
}

// errPortInUse is returned by start when the port was taken between
// choosing and binding it.
var errPortInUse = errors.New("port already in use")

// Start starts moto_server on a free port of 127.0.0.1 and waits until it
// answers HTTP (at most 30 s). ctx bounds only the start; the server runs
// until Stop. On error nothing is left running and the error includes the
// end of the server's log.
func Start(ctx context.Context) (*Server, error) {
	path, err := Find()
	if err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		s, err := start(ctx, path)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortInUse) || try == startTries || ctx.Err() != nil {
			return nil, err
		}
	}
}

func start(ctx context.Context, path string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start %s: find a free port: %w", Program, err)
	}
	log, err := os.CreateTemp("", "moto-server-*.log")
	if err != nil {
		return nil, fmt.Errorf("start %s: create log file: %w", Program, err)
	}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = serverEnv(os.Environ())
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		log.Close()
		os.Remove(log.Name())
		return nil, fmt.Errorf("start %s: %w", Program, err)
	}
	s := &Server{
		moto:    "http://127.0.0.1:" + strconv.Itoa(port),
		LogPath: log.Name(),
		cmd:     cmd,
		log:     log,
		done:    make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		s.log.Close()
		tail := s.logTail()
		if strings.Contains(tail, "Address already in use") {
			os.Remove(s.LogPath)
			return nil, fmt.Errorf("start %s on port %d: %w", Program, port, errPortInUse)
		}
		return nil, fmt.Errorf("start %s on port %d: %w; log %s:\n%s", Program, port, err, s.LogPath, tail)
	}
	s.front, err = startFront(s.moto)
	if err != nil {
		s.kill()
		s.log.Close()
		os.Remove(s.LogPath)
		return nil, fmt.Errorf("start %s: %w", Program, err)
	}
	s.Endpoint, s.Port = s.front.url, s.front.port
	return s, nil
}

// waitReady polls GET /moto-api/ until it answers 200.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := httpClient(2 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready: %v", Program, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", context.Cause(ctx))
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.moto+"/moto-api/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

// Stop closes the front, kills the server's process group and waits for
// it to exit. It removes the log file unless the server had died on its
// own. Calling Stop again returns the first result.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		var exitedEarly bool
		select {
		case <-s.done:
			exitedEarly = true
		default:
		}
		frontErr := s.front.close()
		killErr := s.kill()
		s.log.Close()
		switch {
		case killErr != nil:
			s.stopErr = fmt.Errorf("stop %s: %w; log %s", Program, killErr, s.LogPath)
		case frontErr != nil:
			s.stopErr = fmt.Errorf("stop %s: close its front: %w", Program, frontErr)
		case exitedEarly:
			s.stopErr = fmt.Errorf("stop %s: it had already exited (%v); log %s:\n%s", Program, s.waitErr, s.LogPath, s.logTail())
		default:
			os.Remove(s.LogPath)
		}
	})
	return s.stopErr
}

// kill ends the process group: SIGTERM, then SIGKILL after stopTimeout.
func (s *Server) kill() error {
	pid := s.cmd.Process.Pid
	signalGroup(pid, false)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		signalGroup(pid, true)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			return fmt.Errorf("process %d did not exit after SIGKILL", pid)
		}
	}
	// Anything else left in the group (a child of the server) goes too.
	signalGroup(pid, true)
	return nil
}

// logTail returns the last lines of the log file.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return string(b)
}

// Reset deletes every resource in the server (POST /moto-api/reset).
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp, err := httpClient(30 * time.Second).Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: HTTP %d: %s", resp.StatusCode, body)
	}
	return nil
}

// Env returns environment variables that point the AWS SDKs and CLI at
// the server: AWS_ENDPOINT_URL, the dummy credentials, AWS_REGION
// (DefaultRegion) and AWS_EC2_METADATA_DISABLED. Append them to
// os.Environ() for a child process (later entries win).
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_REGION=" + DefaultRegion,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// AWSConfig returns an SDK configuration for the server: the dummy static
// credentials, BaseEndpoint set to Endpoint and region ("" means
// DefaultRegion). It is built directly rather than with
// config.LoadDefaultConfig so that nothing from the environment leaks in:
// no AWS_PROFILE (a missing profile would fail the load), shared config
// file, AWS_ENDPOINT_URL_<SERVICE> or IMDS lookup can point a client
// anywhere but the local server. ctx is unused and kept for symmetry with
// config.LoadDefaultConfig.
//
// S3 clients need path-style addressing with moto: create them with
// s3.NewFromConfig(cfg, motoserver.S3Options).
func (s *Server) AWSConfig(ctx context.Context, region string) (aws.Config, error) {
	if s == nil || s.Endpoint == "" {
		return aws.Config{}, errors.New("moto AWS config: no server endpoint")
	}
	if region == "" {
		region = DefaultRegion
	}
	return aws.Config{
		Region:       region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		BaseEndpoint: aws.String(s.Endpoint),
		HTTPClient:   awshttp.NewBuildableClient(),
	}, nil
}

// S3Options sets path-style addressing, which moto needs:
// s3.NewFromConfig(cfg, motoserver.S3Options).
func S3Options(o *s3.Options) { o.UsePathStyle = true }

// serverEnv is the environment of the moto_server process: the caller's
// without any AWS_* variable. moto runs botocore internally, which fails
// on an AWS_PROFILE naming a profile it cannot find and would follow
// AWS_ENDPOINT_URL or a shared config file; moto's own settings (MOTO_*)
// pass through.
func serverEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(strings.ToUpper(kv), "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// httpClient is a client that never uses a proxy.
func httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
}

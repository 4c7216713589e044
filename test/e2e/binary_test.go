package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/s3"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/rules/identity"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds ./cmd/openami once per test run and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "openami-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "openami")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/openami").CombinedOutput()
		if err != nil {
			buildErr = &buildError{string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct{ out string }

func (e *buildError) Error() string { return "go build: " + e.out }

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestSmokeScript runs scripts/smoke.sh, which drives a fresh binary with
// the aws CLI and boto3 as a newcomer would.
func TestSmokeScript(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("the aws CLI is not on the PATH; install it (apt-get install awscli) — .ci/run does")
	}
	cmd := exec.Command("bash", filepath.Join(repoRoot(t), "scripts", "smoke.sh"))
	cmd.Env = append(os.Environ(), "OPENAMI_BIN="+binary(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("smoke.sh: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`smoke: \d+ passed, 0 failed`).Match(out) {
		t.Fatalf("smoke.sh did not report its result:\n%s", out)
	}
}

// serveBinary starts `openami serve` with args and returns its endpoint and
// the running command.
func serveBinary(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	return startCmd(t, cmd), cmd
}

// TestBinaryOnPostgres runs the binary with --database and manages
// accounts with the CLI while it serves.
func TestBinaryOnPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	dataDir := t.TempDir()
	endpoint, cmd := serveBinary(t, "--data-dir", dataDir, "--database", dsn, "--regions", "us-east-1,eu-central-1")

	out, err := exec.Command(binary(t), "account", "create", "--data-dir", dataDir, "--database", dsn, "--name", "dave").Output()
	if err != nil {
		t.Fatalf("account create: %v", err)
	}
	var c struct{ AccountId, AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("account create printed %q: %v", out, err)
	}
	if !regexp.MustCompile(`^\d{12}$`).MatchString(c.AccountId) || !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(c.AccessKeyId) || len(c.SecretAccessKey) != 40 {
		t.Fatalf("credentials of the wrong form: %+v", c)
	}
	s := &server{URL: endpoint}
	creds := identity.Credentials{AccountID: c.AccountId, AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey}
	regions, err := s.ec2(creds, "eu-central-1").DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(regions.Regions) != 2 || *regions.Regions[1].RegionName != "eu-central-1" {
		t.Fatalf("regions %+v", regions.Regions)
	}
	// The secret is not in the database in plaintext.
	dump, err := exec.Command(binary(t), "account", "list", "--data-dir", dataDir, "--database", dsn).Output()
	if err != nil || !strings.Contains(string(dump), "dave") || strings.Contains(string(dump), c.SecretAccessKey) {
		t.Fatalf("account list: %v %s", err, dump)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}

// TestBinaryOnS3 runs the binary with its block store in MinIO, writes a
// snapshot through the EBS direct API, reads it back, and checks that the
// chunks are objects in the bucket, not files in the data dir.
func TestBinaryOnS3(t *testing.T) {
	m := testenv.MinIO(t)
	dataDir := t.TempDir()
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--blob-store", "s3://"+m.Bucket+"/openami", "--s3-endpoint", m.Endpoint, "--s3-region", m.Region)
	cmd.Env = append(os.Environ(), "OPENAMI_S3_ACCESS_KEY_ID="+m.AccessKeyID, "OPENAMI_S3_SECRET_ACCESS_KEY="+m.SecretAccessKey)
	endpoint := startCmd(t, cmd)
	creds := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: endpoint}

	ctx := context.Background()
	start, err := s.ebs(creds).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	data := map[int32][]byte{0: randomBlock(), 9: textBlock("on minio ")}
	putBlocks(t, s, creds, *start.SnapshotId, data)
	sameBlocks(t, readSnapshot(t, s, creds, *start.SnapshotId), data)

	if _, err := os.Stat(filepath.Join(dataDir, "blocks")); !os.IsNotExist(err) {
		t.Fatalf("block data landed in the data dir: %v", err)
	}
	st, err := s3.New(ctx, s3.Config{Endpoint: m.Endpoint, Region: m.Region, Bucket: m.Bucket, Prefix: "openami/us-east-1/",
		AccessKeyID: m.AccessKeyID, SecretAccessKey: m.SecretAccessKey, UsePathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := st.List(ctx, "chunks/", func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d chunk objects in the bucket, want 2", n)
	}
}

// startCmd starts a prepared `openami serve` command and returns its
// endpoint.
func startCmd(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	endpoint := make(chan string, 1)
	exited := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`^openami listening on (http://\S+)`)
		var out strings.Builder
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				endpoint <- m[1]
			}
		}
		exited <- out.String()
	}()
	select {
	case ep := <-endpoint:
		return ep
	case out := <-exited:
		t.Fatalf("server exited before it listened:\n%s", out)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return ""
}

// readCredentials reads the [openami] profile of an aws credentials file.
func readCredentials(t testing.TB, path string) identity.Credentials {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c identity.Credentials
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " = ")
		switch {
		case ok && k == "aws_access_key_id":
			c.AccessKeyID = v
		case ok && k == "aws_secret_access_key":
			c.SecretAccessKey = v
		}
	}
	return c
}

// Package e2e drives a real openami server with real AWS clients:
// aws-sdk-go-v2 in-process, and the aws CLI and boto3 as subprocesses.
// Every test runs against both metadata stores, SQLite and PostgreSQL.
package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/openami/openami/api"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/postgres"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/service"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// server is an openami server running in the test process on a loopback
// port, over a fresh metadata store.
type server struct {
	URL   string
	svc   *service.Service
	admin identity.Credentials
}

// stores are the metadata stores every end-to-end test runs against.
var stores = []string{"sqlite", "postgres"}

// eachStore runs fn as a subtest against a fresh server on each store.
func eachStore(t *testing.T, fn func(t *testing.T, s *server)) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, start(t, kind))
		})
	}
}

// start starts a server on a new store of the kind.
func start(t testing.TB, kind string) *server {
	t.Helper()
	return startWith(t, kind, nil)
}

// startWith starts a server on a new store of the kind, its service's
// configuration changed by mod (when not nil).
func startWith(t testing.TB, kind string, mod func(*service.Config)) *server {
	t.Helper()
	return startService(t, kind, mod, nil)
}

// startService starts a server on a new store of the kind, its service's
// configuration changed by mod and the service handed to beforeStart
// before its worker starts (each when not nil): where a test gives it a
// runtime.
func startService(t testing.TB, kind string, mod func(*service.Config), beforeStart func(*service.Service)) *server {
	t.Helper()
	ctx := context.Background()
	dir0 := t.TempDir()
	var (
		store metadata.Store
		err   error
	)
	switch kind {
	case "sqlite":
		store, err = sqlite.Open(filepath.Join(dir0, "metadata.db"))
	case "postgres":
		store, err = postgres.Open(ctx, testenv.Postgres(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	regions, err := identity.ParseRegions(nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		if blobs[r.Name], err = dir.New(filepath.Join(dir0, "blocks", r.Name)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := service.Config{Store: store, Seal: key, Regions: regions, Blobs: blobs, LocalDir: dir0}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := service.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if beforeStart != nil {
		beforeStart(svc)
	}
	svc.Start(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(svc.Close)
	_, admin, _, err := svc.Identity().EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hs := httptest.NewServer(api.New(svc, log, prometheus.NewRegistry(), api.Limits{}))
	t.Cleanup(hs.Close)
	return &server{URL: hs.URL, svc: svc, admin: admin}
}

// account creates a new account and returns its credentials.
func (s *server) account(t *testing.T, name string) identity.Credentials {
	t.Helper()
	_, c, err := s.svc.Identity().CreateAccount(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *server) awsConfig(c identity.Credentials, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		BaseEndpoint: aws.String(s.URL),
		// Fail fast: retries would only hide a wrong answer.
		RetryMaxAttempts: 1,
		HTTPClient:       testenv.ReadOnlyBody{Client: awshttp.NewBuildableClient().WithTimeout(2 * time.Minute)},
	}
}

// ec2 returns an EC2 client for the credentials in the region.
func (s *server) ec2(c identity.Credentials, region string) *ec2.Client {
	return ec2.NewFromConfig(s.awsConfig(c, region))
}

// sts returns an STS client for the credentials.
func (s *server) sts(c identity.Credentials) *sts.Client {
	return sts.NewFromConfig(s.awsConfig(c, "us-east-1"))
}

// errorsAs is errors.As, named for the tests that check typed SDK errors.
func errorsAs(err error, target any) bool { return errors.As(err, target) }

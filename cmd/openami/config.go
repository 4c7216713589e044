package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/blob/s3"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/postgres"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/nbd"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/service"
	"github.com/spf13/cobra"
)

// config holds the settings every command shares. Each flag has an
// environment variable of the same name in upper case with an OPENAMI_
// prefix; a flag given on the command line wins over the variable.
type config struct {
	dataDir    string
	database   string
	regions    string
	blobStore  string
	s3Endpoint string
	s3Region   string
	// publicIPs is serve's --public-ips: the pool of instances' public
	// addresses ("" for the default).
	publicIPs string
	// bundleCacheSize is serve's --bundle-cache-size ("" for the
	// default).
	bundleCacheSize string
	// importWorkers is serve's --import-workers (0 for the default, 1).
	importWorkers int
	// nodeID and leaseTTL are serve's --node-id and --lease-ttl ("" and
	// 0 for the defaults: docs/LEASES.md); other commands take the TTL
	// from OPENAMI_LEASE_TTL.
	nodeID   string
	leaseTTL time.Duration
}

func (c *config) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.dataDir, "data-dir", envOr("OPENAMI_DATA_DIR", defaultDataDir()), "directory for openami's data (env OPENAMI_DATA_DIR)")
	f.StringVar(&c.database, "database", os.Getenv("OPENAMI_DATABASE"), "metadata database: empty for SQLite in the data dir, or PostgreSQL as a postgres:// URL or key=value connection string (env OPENAMI_DATABASE)")
	f.StringVar(&c.regions, "regions", envOr("OPENAMI_REGIONS", strings.Join(identity.DefaultRegions, ",")), "comma-separated regions to serve (env OPENAMI_REGIONS)")
	f.StringVar(&c.blobStore, "blob-store", os.Getenv("OPENAMI_BLOB_STORE"), "where block data lives: empty for DATA_DIR/blocks, or s3://BUCKET[/PREFIX] with credentials in OPENAMI_S3_ACCESS_KEY_ID and OPENAMI_S3_SECRET_ACCESS_KEY (env OPENAMI_BLOB_STORE)")
	f.StringVar(&c.s3Endpoint, "s3-endpoint", os.Getenv("OPENAMI_S3_ENDPOINT"), "S3-compatible endpoint URL, such as http://127.0.0.1:9000 for MinIO; empty for AWS S3 (env OPENAMI_S3_ENDPOINT)")
	f.StringVar(&c.s3Region, "s3-region", envOr("OPENAMI_S3_REGION", "us-east-1"), "the bucket's region (env OPENAMI_S3_REGION)")
}

// intEnv is the integer in the environment variable name, or def when it
// is unset or not a number.
func intEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDataDir is $XDG_DATA_HOME/openami, else ~/.local/share/openami.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "openami")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "openami-data"
	}
	return filepath.Join(home, ".local", "share", "openami")
}

// env is what a command runs on: the opened store and the service.
type env struct {
	store metadata.Store
	svc   *service.Service
	// reads counts what the block store reads from its blob stores.
	reads *blobReads
}

func (e *env) Close() error { return e.store.Close() }

// open opens an existing installation for an operator command: its
// metadata store, its master key and the service. It refuses, creating
// nothing, a data dir with no metadata.db (SQLite) or a PostgreSQL
// database with no openami schema: a mistyped --data-dir must not get a
// new, empty installation that answers every question with nothing.
func (c *config) open(ctx context.Context) (*env, error) {
	store, err := c.openStore(ctx, false)
	if err != nil {
		return nil, err
	}
	key, err := seal.Load(c.dataDir)
	if err != nil {
		store.Close()
		return nil, err
	}
	return c.build(ctx, store, key)
}

// create is open for the server, which holds the data dir (see
// holdDataDir): it makes the master key and the metadata store when they
// do not exist.
func (c *config) create(ctx context.Context) (*env, error) {
	key, err := seal.LoadOrCreate(c.dataDir)
	if err != nil {
		return nil, err
	}
	store, err := c.openStore(ctx, true)
	if err != nil {
		return nil, err
	}
	return c.build(ctx, store, key)
}

// noInstallation is the error of an operator command pointed at a place
// that holds no openami installation.
func (c *config) noInstallation(what string) error {
	if c.database == "" {
		return fmt.Errorf("%s holds no openami installation (no metadata.db); start one with openami serve --data-dir %s", c.dataDir, c.dataDir)
	}
	return fmt.Errorf("%s; start one with openami serve --database ...", what)
}

// openStore opens the metadata store: SQLite in the data dir, or
// PostgreSQL. Unless create is set, the store must exist already (see
// open).
func (c *config) openStore(ctx context.Context, create bool) (metadata.Store, error) {
	switch {
	case c.database == "":
		path := filepath.Join(c.dataDir, "metadata.db")
		if !create {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, c.noInstallation("")
			} else if err != nil {
				return nil, err
			}
		}
		return sqlite.Open(path)
	case strings.HasPrefix(c.database, "postgres://") || strings.HasPrefix(c.database, "postgresql://") || strings.Contains(c.database, "="):
		if create {
			return postgres.Open(ctx, c.database)
		}
		store, err := postgres.OpenExisting(ctx, c.database)
		if errors.Is(err, postgres.ErrNoInstallation) {
			return nil, c.noInstallation(err.Error())
		}
		return store, err
	default:
		return nil, fmt.Errorf("--database: want empty (SQLite), a postgres:// URL or a key=value connection string")
	}
}

// build opens the block stores and the service over an opened metadata
// store, which it closes if it fails.
func (c *config) build(ctx context.Context, store metadata.Store, key *seal.Key) (*env, error) {
	regions, err := identity.ParseRegions(strings.Split(c.regions, ","))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("--regions: %w", err)
	}
	blobs, err := c.openBlobs(ctx, regions)
	if err != nil {
		store.Close()
		return nil, err
	}
	reads := newBlobReads()
	for name, st := range blobs {
		blobs[name] = reads.wrap(name, st)
	}
	var pool netip.Prefix
	if c.publicIPs != "" {
		if pool, err = netip.ParsePrefix(c.publicIPs); err != nil || !pool.Addr().Is4() || pool.Bits() > 30 {
			store.Close()
			return nil, fmt.Errorf("--public-ips: want an IPv4 CIDR of at least 4 addresses, such as 127.77.0.0/16 (%q)", c.publicIPs)
		}
	}
	var cacheSize int64
	if c.bundleCacheSize != "" {
		if cacheSize, err = parseSize(c.bundleCacheSize); err != nil || cacheSize < 1 {
			store.Close()
			return nil, fmt.Errorf("--bundle-cache-size: want a size such as 20GiB (%q)", c.bundleCacheSize)
		}
	}
	// The operator commands (openami gc) take leases too: they read the
	// nodes' OPENAMI_LEASE_TTL, so that a killed collection is taken
	// over as soon as a node's task would be.
	if c.leaseTTL == 0 {
		if d, err := time.ParseDuration(os.Getenv("OPENAMI_LEASE_TTL")); err == nil {
			c.leaseTTL = d
		}
	}
	svc, err := service.New(ctx, service.Config{Store: store, Seal: key, Regions: regions, Blobs: blobs, LocalDir: c.dataDir, ImportDir: filepath.Join(c.dataDir, "import"), PublicIPs: pool,
		BundleCacheSize: cacheSize, ImportWorkers: c.importWorkers, ServeImportFile: nbd.ServeFile, NodeID: c.nodeID, LeaseTTL: c.leaseTTL, Wakeups: c.wakeups()})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &env{store: store, svc: svc, reads: reads}, nil
}

// withEnv adapts fn into a cobra RunE that opens the environment for the
// command and closes it afterwards.
func (c *config) withEnv(fn func(ctx context.Context, e *env, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e, err := c.open(cmd.Context())
		if err != nil {
			return err
		}
		defer e.Close()
		return fn(cmd.Context(), e, args)
	}
}

// openBlobs opens the blob store of each region's block store: a directory
// per region under DATA_DIR/blocks, or a prefix per region in one S3
// bucket (s3://BUCKET/PREFIX/REGION/...).
func (c *config) openBlobs(ctx context.Context, regions []openami.Region) (map[string]blob.Store, error) {
	out := map[string]blob.Store{}
	var bucket, prefix string
	if c.blobStore != "" {
		rest, ok := strings.CutPrefix(c.blobStore, "s3://")
		if !ok || rest == "" {
			return nil, fmt.Errorf("--blob-store: want empty or s3://BUCKET[/PREFIX]")
		}
		bucket, prefix, _ = strings.Cut(rest, "/")
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
	}
	for _, r := range regions {
		var (
			st  blob.Store
			err error
		)
		if bucket == "" {
			st, err = dir.New(filepath.Join(c.dataDir, "blocks", r.Name))
		} else {
			st, err = s3.New(ctx, s3.Config{
				Endpoint: c.s3Endpoint, Region: c.s3Region, Bucket: bucket, Prefix: prefix + r.Name + "/",
				AccessKeyID: os.Getenv("OPENAMI_S3_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("OPENAMI_S3_SECRET_ACCESS_KEY"),
				UsePathStyle: c.s3Endpoint != "",
			})
		}
		if err != nil {
			return nil, fmt.Errorf("block store of %s: %w", r.Name, err)
		}
		out[r.Name] = st
	}
	return out, nil
}

// parseSize reads a size in bytes: a whole number with an optional unit,
// K/KiB, M/MiB, G/GiB or T/TiB (powers of 1024), or B.
func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	num := strings.TrimRight(v, "KMGTiBkmgtib")
	shift := 0
	switch strings.ToUpper(strings.TrimSpace(v[len(num):])) {
	case "", "B":
	case "K", "KIB", "KB":
		shift = 10
	case "M", "MIB", "MB":
		shift = 20
	case "G", "GIB", "GB":
		shift = 30
	case "T", "TIB", "TB":
		shift = 40
	default:
		return 0, fmt.Errorf("unknown unit in %q", v)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n << shift, nil
}

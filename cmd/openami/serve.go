package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api"
	"github.com/openami/openami/api/imds"
	"github.com/openami/openami/api/s3"
	"github.com/openami/openami/metadata/lease"
	"github.com/openami/openami/nbd"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/runtime/bridge"
	"github.com/openami/openami/runtime/qemu"
	"github.com/openami/openami/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
)

// defaultListen is the default address: loopback only, on the port
// OpenStack Nova's EC2 API used.
const defaultListen = "127.0.0.1:8773"

// runtimeFlags are serve's flags that choose and tune the runtime.
type runtimeFlags struct {
	kind        string
	accel       string
	stopTimeout time.Duration
	firstOutput time.Duration
	restrictNet bool
	gatewayHost bool
	network     string
	// s3Domains are the domains of virtual-hosted-style S3 requests (not
	// the runtime's, but serve's other flag of the same kind).
	s3Domains []string
	// host makes the node a compute host (host.go).
	host hostFlags
}

func serveCommand(cfg *config) *cobra.Command {
	var listen, logFormat, debugListen string
	var rf runtimeFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the openami server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(cmd.Context(), cfg, listen, logFormat, debugListen, rf)
		},
	}
	durationEnv := func(name string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
			return d
		}
		return def
	}
	cmd.Flags().StringVar(&rf.kind, "runtime", envOr("OPENAMI_RUNTIME", "none"), "what runs instances: none (no guest) or qemu (a QEMU VM each; docs/RUNTIME.md) (env OPENAMI_RUNTIME)")
	cmd.Flags().StringVar(&rf.accel, "qemu-accel", envOr("OPENAMI_QEMU_ACCEL", "auto"), "qemu runtime accelerator: auto (probe KVM, else TCG), kvm or tcg (env OPENAMI_QEMU_ACCEL)")
	cmd.Flags().DurationVar(&rf.stopTimeout, "qemu-stop-timeout", durationEnv("OPENAMI_QEMU_STOP_TIMEOUT", 60*time.Second), "how long a stop waits for the guest to power off before killing its VM (env OPENAMI_QEMU_STOP_TIMEOUT)")
	cmd.Flags().DurationVar(&rf.firstOutput, "qemu-first-output-timeout", durationEnv("OPENAMI_QEMU_FIRST_OUTPUT_TIMEOUT", qemu.DefaultFirstOutputTimeout), "how long a guest may take to write to its serial console before its instance status check fails (env OPENAMI_QEMU_FIRST_OUTPUT_TIMEOUT)")
	cmd.Flags().BoolVar(&rf.restrictNet, "qemu-restrict-network", os.Getenv("OPENAMI_QEMU_RESTRICT_NETWORK") == "true", "cut guests off from the host and the outside; only their VPC's DHCP, DNS and metadata service answer (env OPENAMI_QEMU_RESTRICT_NETWORK=true)")
	cmd.Flags().BoolVar(&rf.gatewayHost, "qemu-gateway-to-host", os.Getenv("OPENAMI_QEMU_GATEWAY_TO_HOST") == "true", "let guests of the rootless network reach the host's 127.0.0.1:PORT at their gateway's address, where their egress rules allow (env OPENAMI_QEMU_GATEWAY_TO_HOST=true)")
	cmd.Flags().StringVar(&rf.network, "network", envOr("OPENAMI_NETWORK", qemu.NetworkRootless), "how the qemu runtime networks guests: rootless (each VM a user-mode network of its own; no privilege) or bridge (as root: a network namespace and Linux bridge per VPC, so overlapping VPCs coexist, a tap per instance, security groups in nftables; --public-ips must then be a range routed to this host) (docs/NETWORK.md) (env OPENAMI_NETWORK)")
	cmd.Flags().StringVar(&cfg.publicIPs, "public-ips", envOr("OPENAMI_PUBLIC_IPS", instances.DefaultPublicPool.String()), "the pool of instances' public addresses, an IPv4 CIDR; on the host's loopback range by default, so that the qemu runtime's forwarded ports are reachable from this host without root (docs/NETWORK.md) (env OPENAMI_PUBLIC_IPS)")
	cmd.Flags().StringVar(&cfg.bundleCacheSize, "bundle-cache-size", envOr("OPENAMI_BUNDLE_CACHE_SIZE", fmt.Sprintf("%dGiB", service.DefaultBundleCacheSize>>30)), "bound of DATA_DIR/bundle-cache, this host's unpacked bundles of instance store-backed AMIs, least recently used evicted first (docs/BUNDLES.md) (env OPENAMI_BUNDLE_CACHE_SIZE)")
	s3Domains := s3.DefaultDomains
	if v := os.Getenv("OPENAMI_S3_DOMAINS"); v != "" {
		s3Domains = strings.Split(v, ",")
	}
	cmd.Flags().IntVar(&cfg.importWorkers, "import-workers", intEnv("OPENAMI_IMPORT_WORKERS", 1), "how many ImportImage/ImportSnapshot conversions run at once on this server; each takes a CPU for qemu-img and up to twice its disk file's size in DATA_DIR/import (docs/IMPORT.md) (env OPENAMI_IMPORT_WORKERS)")
	cmd.Flags().StringVar(&cfg.nodeID, "node-id", os.Getenv("OPENAMI_NODE_ID"), "this node's name in the leases of its background work, unique among the nodes on one database and kept across restarts; empty: a hash of the host name and the data directory (docs/LEASES.md) (env OPENAMI_NODE_ID)")
	cmd.Flags().DurationVar(&cfg.leaseTTL, "lease-ttl", durationEnv("OPENAMI_LEASE_TTL", lease.DefaultTTL), "how long a lease of background work lives unrenewed: how soon another node takes over a dead node's tasks (renewed every third of it) (docs/LEASES.md) (env OPENAMI_LEASE_TTL)")
	cmd.Flags().IntVar(&ebs.CopyBatch, "copy-batch", intEnv("OPENAMI_COPY_BATCH", ebs.CopyBatch), "how many blocks a cross-region snapshot copy moves per transaction: bounds its memory and what a node that takes over a dead node's copy reads again (docs/LEASES.md) (env OPENAMI_COPY_BATCH)")
	cmd.Flags().StringSliceVar(&rf.s3Domains, "s3-domain", s3Domains, "a domain under which a Host BUCKET.DOMAIN[:port] names an S3 bucket (virtual-hosted-style); repeatable or comma-separated; any other Host is path-style (docs/S3.md) (env OPENAMI_S3_DOMAINS)")
	cmd.Flags().StringVar(&listen, "listen", envOr("OPENAMI_LISTEN", defaultListen), "address to listen on (env OPENAMI_LISTEN)")
	cmd.Flags().StringVar(&logFormat, "log-format", envOr("OPENAMI_LOG_FORMAT", "text"), "request log format: text or json (env OPENAMI_LOG_FORMAT)")
	addHostFlags(cmd, &rf.host)
	cmd.Flags().StringVar(&debugListen, "debug-listen", os.Getenv("OPENAMI_DEBUG_LISTEN"), "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off when empty (env OPENAMI_DEBUG_LISTEN)")
	return cmd
}

func serve(ctx context.Context, cfg *config, listen, logFormat, debugListen string, rf runtimeFlags) (err error) {
	var handler slog.Handler
	switch logFormat {
	case "text":
		handler = slog.NewTextHandler(os.Stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, nil)
	default:
		return fmt.Errorf("--log-format: want text or json")
	}
	log := slog.New(handler)
	if ebs.CopyBatch < 1 {
		return fmt.Errorf("--copy-batch: want at least 1 block")
	}
	if rf.kind != "none" && rf.kind != "qemu" {
		return fmt.Errorf("--runtime: want none or qemu")
	}
	switch rf.network {
	case "", qemu.NetworkRootless:
	case qemu.NetworkBridge:
		if rf.kind != "qemu" {
			return fmt.Errorf("--network bridge networks the qemu runtime's guests: use it with --runtime qemu")
		}
		if !bridge.HasNetAdmin() {
			return fmt.Errorf("--network bridge needs CAP_NET_ADMIN: run openami as root, or use the default rootless network")
		}
		if p, err := netip.ParsePrefix(cfg.publicIPs); err == nil && p.Addr().IsLoopback() {
			return fmt.Errorf("--network bridge: --public-ips %s is on loopback, which the host cannot translate to a bridge: give a range routed to this host (docs/NETWORK.md, \"Root mode: bridges and nftables\")", cfg.publicIPs)
		}
	default:
		return fmt.Errorf("--network: want %s or %s", qemu.NetworkRootless, qemu.NetworkBridge)
	}

	// Take the ports before touching the data dir: a server that cannot
	// listen leaves nothing behind.
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	var dln net.Listener
	if debugListen != "" {
		if dln, err = net.Listen("tcp", debugListen); err != nil {
			return fmt.Errorf("--debug-listen: %w", err)
		}
		defer dln.Close()
	}
	// Then hold the data dir: a second server on it stops here, having
	// changed nothing.
	dd, err := holdDataDir(cfg.dataDir)
	if err != nil {
		return err
	}
	defer dd.Close()
	// A start that fails before serving removes the installation it began
	// in an empty data dir. Not with PostgreSQL, whose database may keep
	// secrets sealed under the new master key.
	serving := false
	defer func() {
		if !serving && cfg.database == "" {
			dd.undo()
		}
	}()

	// The store and the service first, then the runtime, which is given
	// what it needs of the service, then the service is given the
	// runtime: all before the worker starts any VM.
	e, err := cfg.create(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	svc := e.svc
	var rt *qemu.Runtime
	if rf.kind == "qemu" {
		rt, err = qemu.New(ctx, qemu.Config{
			Dir: filepath.Join(cfg.dataDir, "vms"), NBDSocket: filepath.Join(cfg.dataDir, "nbd.sock"),
			Accel: rf.accel, StopTimeout: rf.stopTimeout, FirstOutputTimeout: rf.firstOutput,
			RestrictNetwork: rf.restrictNet, GatewayToHost: rf.gatewayHost, NetworkMode: rf.network, Log: log,
			IMDS: func(inst openami.Instance) http.Handler { return imds.New(svc.Instances(), inst.Region, inst.ID) },
			Network: func(ctx context.Context, inst openami.Instance) (openami.InstanceNetwork, error) {
				return svc.Instances().InstanceNetwork(ctx, inst.Region, inst.ID)
			},
			OnExit:   svc.Kick,
			BootFile: svc.Images().BootFile,
			InstanceType: func(name string) (qemu.Shape, bool) {
				it, ok := instances.LookupInstanceType(name)
				return qemu.Shape{VCPUs: it.VCPUs, MemoryMiB: it.MemoryMiB, UEFI: slices.Contains(it.BootModes, "uefi")}, ok
			},
		})
		if err != nil {
			return fmt.Errorf("--runtime qemu: %w", err)
		}
		// Whatever fails from here on, the bridge mode's links and tables
		// go (Close again after the shutdown's own is a no-op).
		defer rt.Close()
		svc.UseRuntime(rt)
	}

	admin, creds, created, err := svc.Identity().EnsureAdmin(ctx)
	if err != nil {
		return fmt.Errorf("administrator account: %w", err)
	}
	// Several servers may share the database: one with another master
	// key would answer every signed request with an internal error.
	if err := svc.Identity().CheckMasterKey(ctx); err != nil {
		return err
	}

	endpoint := "http://" + ln.Addr().String()
	credFile := filepath.Join(cfg.dataDir, "credentials")
	if created {
		if err := writeCredentials(credFile, creds); err != nil {
			return err
		}
	}
	confFile := filepath.Join(cfg.dataDir, "config")
	if err := writeAWSConfig(confFile, svc.Identity().Regions()[0].Name, endpoint); err != nil {
		return err
	}

	// Attached volumes of running instances, over NBD on a unix socket
	// that only this user may open: it is not authenticated.
	nbdPath := filepath.Join(cfg.dataDir, "nbd.sock")
	if err := os.Remove(nbdPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nbd socket: %w", err)
	}
	nln, err := net.Listen("unix", nbdPath)
	if err != nil {
		return fmt.Errorf("nbd socket: %w", err)
	}
	if err := os.Chmod(nbdPath, 0o600); err != nil {
		nln.Close()
		return fmt.Errorf("nbd socket: %w", err)
	}
	nbdSrv := nbd.New(func(ctx context.Context, name string) (nbd.Export, error) {
		return svc.Instances().OpenDevice(ctx, name)
	}, log)
	defer nbdSrv.Close()
	if rf.host.enabled {
		accel := "none"
		if rt != nil {
			accel = rt.Accel()
		}
		if err := registerHost(ctx, svc, rf.host, cfg.dataDir, ln.Addr().String(), accel); err != nil {
			return err
		}
	}
	// The worker starts VMs: only once their disks can be reached.
	svc.Start(ctx, log)
	// Temporary files that blob writes interrupted by a crash left, in
	// the background: finding them walks every blob.
	go func() {
		for _, r := range svc.Identity().Regions() {
			l, err := svc.EBS().CleanLitter(ctx, r.Name)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("clean the block store", "region", r.Name, "error", err)
				}
				return
			}
			if l.Files > 0 {
				log.Info("removed temporary files of interrupted writes", "region", r.Name, "files", l.Files, "bytes", l.Bytes)
			}
		}
	}()
	defer svc.Close()
	if rt != nil {
		// Before the NBD server closes: guests flush their disks as they
		// power off. The worker stops first so that it starts no VM.
		defer func() {
			svc.Close()
			rt.Close()
		}()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), e.reads)
	// The limits on what a client can make the server hold, and for how
	// long (docs/SECURITY.md).
	limits := api.DefaultLimits()
	endpointHandler := api.New(e.svc, log, reg, limits)
	endpointHandler.UseS3Domains(rf.s3Domains)
	srv := limits.HTTPServer(endpointHandler)
	fmt.Fprintf(os.Stderr, `openami listening on %s (data: %s, regions: %s)
volumes of running instances are served over NBD at %s; runtime: %s
administrator account %s; its credentials are in %s
point the aws CLI at it with:
  export AWS_CONFIG_FILE=%s AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=openami
  aws ec2 describe-regions
  aws s3 mb s3://my-bucket
`, endpoint, cfg.dataDir, cfg.regions, nbdPath, runtimeName(rt), admin.ID, credFile, confFile, credFile)
	serving = true

	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(limits.Listener(ln)) }()
	go func() { errc <- nbdSrv.Serve(nln) }()
	if dln != nil {
		// The profiler on its own listener, never on the API's: it is
		// unauthenticated.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		debug := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
		defer debug.Close()
		go func() { errc <- debug.Serve(dln) }()
		log.Info("profiler listening", "address", dln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runtimeName says what runs instances, for the start-up banner.
func runtimeName(rt *qemu.Runtime) string {
	if rt == nil {
		return "none (instances run no guest)"
	}
	return "qemu (" + rt.Accel() + ", " + rt.NetworkMode() + " network)"
}

// writeCredentials writes the administrator's credentials in the aws CLI's
// credentials-file format, readable by the owner only.
func writeCredentials(path string, c identity.Credentials) error {
	return writeProfileCredentials(path, "openami", c)
}

// writeProfileCredentials sets a profile of the credentials file to c,
// keeping the other profiles (awsprofile.go).
func writeProfileCredentials(path, profile string, c identity.Credentials) error {
	return setINISection(path, profile, []string{"aws_access_key_id = " + c.AccessKeyID, "aws_secret_access_key = " + c.SecretAccessKey}, nil)
}

// writeAWSConfig writes an aws CLI config file whose openami profile points
// at this server. It holds no secret, and is rewritten on every start so
// that it follows --listen; it is owner-only all the same, like everything
// in the data dir. S3 requests go path-style (/BUCKET/KEY), which works
// whatever the endpoint's host name resolves (docs/S3.md).
//
// The other profiles of the file (`account create --profile`) are kept and
// pointed at the endpoint too.
func writeAWSConfig(path, region, endpoint string) error {
	return setINISection(path, "profile openami", profileConfig(region, endpoint), pointAt(endpoint))
}

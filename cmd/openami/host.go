package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/openami/openami"
	"github.com/openami/openami/service"
)

// hostCommand manages compute hosts (docs/HOSTS.md). Every subcommand
// prints JSON, and works beside running nodes on the same database.
func hostCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "The compute hosts: list, drain, remove"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List compute hosts, with whether each is alive and how many instances it runs",
		Args:  cobra.NoArgs,
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			hosts, err := e.svc.Instances().Hosts(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			out := make([]hostJSON, len(hosts))
			for i, h := range hosts {
				out[i] = hostJSON{HostId: h.ID, Node: h.Node, Address: h.Address, State: string(h.State), Alive: h.Alive(now),
					Lost: h.Lost, Epoch: h.Epoch, VCpus: h.VCPUs, MemoryMiB: h.MemoryMiB, InstanceStoreGiB: h.InstanceStoreGiB,
					Accelerator: h.Accelerator, Runtime: h.Runtime, Zones: h.Zones, HeartbeatExpires: h.Expires.UTC().Format(time.RFC3339)}
			}
			return printJSON(map[string]any{"Hosts": out})
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "drain HOST_ID",
		Short: "Place no new (or restarted) instance on the host; its instances keep running",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			if err := e.svc.Instances().DrainHost(ctx, args[0]); err != nil {
				return err
			}
			return printJSON(map[string]string{"HostId": args[0], "State": string(openami.HostDraining)})
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "remove HOST_ID",
		Short: "Forget a host that runs no instance (refused while it runs any)",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			if err := e.svc.Instances().RemoveHost(ctx, args[0]); err != nil {
				return err
			}
			return printJSON(map[string]string{"HostId": args[0], "State": "removed"})
		}),
	})
	return cmd
}

// hostJSON is how `openami host list` prints a host.
type hostJSON struct {
	HostId           string
	Node             string
	Address          string
	State            string
	Alive            bool
	Lost             bool
	Epoch            int64
	VCpus            int
	MemoryMiB        int64
	InstanceStoreGiB int64
	Accelerator      string
	Runtime          string
	Zones            []string `json:",omitempty"`
	HeartbeatExpires string
}

// hostFlags are serve's flags that make the node a compute host.
type hostFlags struct {
	enabled bool
	address string
	vcpus   int
	memory  string
	store   string
	zones   []string
	ttl     time.Duration
}

// addHostFlags adds serve's --host flags. The host's id derives from
// serve's --node-id: the node holds the host's lease under it.
func addHostFlags(cmd *cobra.Command, hf *hostFlags) {
	cmd.Flags().BoolVar(&hf.enabled, "host", os.Getenv("OPENAMI_HOST") == "true", "register this node as a compute host: instances are placed on hosts with room, and this node runs those placed on it (docs/HOSTS.md) (env OPENAMI_HOST=true)")
	cmd.Flags().StringVar(&hf.address, "host-address", os.Getenv("OPENAMI_HOST_ADDRESS"), "host:port where the other nodes reach this host; by default --listen's address (env OPENAMI_HOST_ADDRESS)")
	cmd.Flags().IntVar(&hf.vcpus, "host-vcpus", intEnv("OPENAMI_HOST_VCPUS", 0), "vCPUs the instances placed on this host may add up to; 0: the machine's CPUs (env OPENAMI_HOST_VCPUS)")
	cmd.Flags().StringVar(&hf.memory, "host-memory", os.Getenv("OPENAMI_HOST_MEMORY"), "memory the instances placed on this host may add up to, e.g. 64GiB; empty: the machine's (env OPENAMI_HOST_MEMORY)")
	cmd.Flags().StringVar(&hf.store, "host-instance-store", os.Getenv("OPENAMI_HOST_INSTANCE_STORE"), "instance-store space the instances placed on this host may add up to, e.g. 500GiB; empty: the data directory's free space (env OPENAMI_HOST_INSTANCE_STORE)")
	cmd.Flags().StringSliceVar(&hf.zones, "host-zones", splitEnv("OPENAMI_HOST_ZONES"), "availability zones this host serves, by name (us-east-1a,…); empty: every zone (env OPENAMI_HOST_ZONES)")
	cmd.Flags().DurationVar(&hf.ttl, "host-ttl", service.DefaultHostTTL, "how long this host's heartbeat lasts unless renewed (it renews every third of it); the other nodes take over its instances once it lapses")
}

func splitEnv(name string) []string {
	if v := os.Getenv(name); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// hostConfig turns the flags into the service's HostConfig, filling in
// what was left out from the machine: its CPUs, its memory, the data
// directory's free space, and listen's address.
func (hf hostFlags) hostConfig(dataDir, listen, accel string) (service.HostConfig, error) {
	hc := service.HostConfig{Address: hf.address, VCPUs: hf.vcpus, Zones: hf.zones, TTL: hf.ttl, Accelerator: accel}
	if hc.Address == "" {
		hc.Address = listen
		if host, port, err := net.SplitHostPort(listen); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
			name, _ := os.Hostname()
			hc.Address = net.JoinHostPort(name, port)
		}
	}
	if hc.VCPUs == 0 {
		hc.VCPUs = runtime.NumCPU()
	}
	if hf.memory != "" {
		n, err := parseSize(hf.memory)
		if err != nil {
			return hc, fmt.Errorf("--host-memory: %w", err)
		}
		hc.MemoryMiB = n >> 20
	} else if hc.MemoryMiB = memTotalMiB(); hc.MemoryMiB == 0 {
		return hc, fmt.Errorf("--host-memory: cannot tell this machine's memory: give it")
	}
	if hf.store != "" {
		n, err := parseSize(hf.store)
		if err != nil {
			return hc, fmt.Errorf("--host-instance-store: %w", err)
		}
		hc.InstanceStoreGiB = n >> 30
	} else {
		var st unix.Statfs_t
		if err := unix.Statfs(dataDir, &st); err == nil {
			hc.InstanceStoreGiB = int64(st.Bavail) * int64(st.Bsize) >> 30
		}
	}
	return hc, nil
}

// memTotalMiB returns the machine's memory from /proc/meminfo, or 0 when
// it cannot tell.
func memTotalMiB() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb >> 10
			}
		}
	}
	return 0
}

// registerHost makes the serving node the compute host hf describes.
// accel is the runtime's accelerator ("none" for the none runtime).
func registerHost(ctx context.Context, svc *service.Service, hf hostFlags, dataDir, listen, accel string) error {
	hc, err := hf.hostConfig(dataDir, listen, accel)
	if err != nil {
		return err
	}
	if _, err := svc.RegisterHost(ctx, hc); err != nil {
		return fmt.Errorf("--host: %w", err)
	}
	return nil
}

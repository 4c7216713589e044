package instances

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// DefaultPublicPool is the host's pool of public addresses when none is
// configured: a /16 of the loopback range, so that every instance's
// public address is reachable from the host itself, without root.
var DefaultPublicPool = netip.MustParsePrefix("127.77.0.0/16")

// Every instance holds a public address from the host's pool while it
// is pending or running, as an instance in a default subnet does on EC2:
// taken when it launches or starts, given back when it reaches stopped
// or terminated (a start takes a new one, as on EC2). An address is held
// by one instance of any account and region at a time (the store's
// Instances.PublicIPs and its unique index). The qemu runtime listens on
// it for the ports the instance's security groups allow.

// takePublicIPs returns between least and most free addresses of the
// pool, as many as it has, in the caller's transaction: of a large pool
// at random (probePublicIPs), else, or when probing found too few, the
// lowest first;
// LimitExceeded (EC2's InsufficientAddressCapacity) when it has fewer
// than least.
func (s *Machines) takePublicIPs(tx metadata.Tx, least, most int) ([]string, error) {
	if out, err := s.probePublicIPs(tx, most); err != nil || len(out) == most {
		return out, err
	}
	held, err := tx.Instances().PublicIPs()
	if err != nil {
		return nil, err
	}
	used := make(map[string]bool, len(held))
	for _, ip := range held {
		used[ip] = true
	}
	pool := s.publicPool
	last := lastAddr(pool)
	var out []string
	// The pool's first and last addresses are its network and broadcast
	// addresses, as in any subnet: never handed out.
	for a := pool.Addr().Next(); len(out) < most && a.IsValid() && a != last && pool.Contains(a); a = a.Next() {
		if !used[a.String()] {
			out = append(out, a.String())
		}
	}
	if len(out) < least {
		return nil, openami.ReasonErrorf(openami.LimitExceeded, openami.ResourceInstance, openami.ReasonPublicAddress,
			"There are not enough free public addresses in this server's pool (%s) for %d more instance(s).", pool, least)
	}
	return out, nil
}

// probeMinPool is the smallest pool whose addresses are probed at
// random (probePublicIPs); smaller pools are scanned, lowest first.
const probeMinPool = 1024

// probePublicIPs returns most free addresses of a large pool picked at
// random, each looked up alone (PublicIPHeld), or fewer when it could not
// find them in a few tries, for takePublicIPs to scan for. Reading all
// held addresses (PublicIPs) costs O(instances) and, under SERIALIZABLE,
// makes every two placing transactions conflict; a random address is
// rarely another launch's.
func (s *Machines) probePublicIPs(tx metadata.Tx, most int) ([]string, error) {
	pool := s.publicPool
	size := uint64(1) << (32 - pool.Bits())
	if size < probeMinPool {
		return nil, nil
	}
	base := pool.Addr().As4()
	first := uint64(base[0])<<24 | uint64(base[1])<<16 | uint64(base[2])<<8 | uint64(base[3])
	var out []string
	for try := 0; len(out) < most && try < 4*most+8; try++ {
		// Not the network's first or last address (takePublicIPs).
		v := first + 1 + rand.Uint64N(size-2)
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
		if slices.Contains(out, ip) {
			continue
		}
		held, err := tx.Instances().PublicIPHeld(ip)
		if err != nil {
			return nil, err
		}
		if !held {
			out = append(out, ip)
		}
	}
	return out, nil
}

// givePublicIP gives a running instance that holds no public address
// (one launched by a version of openami before them) one of the pool,
// and returns it as it now is; the instance unchanged, and the error,
// when the pool is full.
func (s *Machines) givePublicIP(ctx context.Context, i openami.Instance) (openami.Instance, error) {
	out := i
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.Instances().Get(i.Region, i.ID)
		if err != nil || cur.State != openami.InstanceRunning || cur.PublicIP != "" {
			out = cur
			return err
		}
		ips, err := s.takePublicIPs(tx, 1, 1)
		if err != nil {
			return err
		}
		cur.PublicIP = ips[0]
		out = cur
		return tx.Instances().Update(cur)
	})
	if err != nil {
		return i, err
	}
	return out, nil
}

// lastAddr returns the last address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// PublicDNSName is an instance's public host name, as EC2 forms it
// (ec2-127-77-0-5.compute-1.amazonaws.com in us-east-1,
// ec2-A-B-C-D.REGION.compute.amazonaws.com elsewhere); "" without a
// public address. These names do not resolve: clients use the address.
func PublicDNSName(region, ip string) string {
	if ip == "" {
		return ""
	}
	host := "ec2-" + strings.ReplaceAll(ip, ".", "-")
	if region == "us-east-1" {
		return host + ".compute-1.amazonaws.com"
	}
	return host + "." + region + ".compute.amazonaws.com"
}

// InstanceNetwork returns an instance's network as a runtime wires it:
// its private and public addresses, host name and domain, its subnet and
// VPC, and its security groups' rules resolved to addresses. NotFound
// when the instance does not exist.
func (s *Machines) InstanceNetwork(ctx context.Context, region, id string) (openami.InstanceNetwork, error) {
	var out openami.InstanceNetwork
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		inst, err := tx.Instances().Get(region, id)
		if err != nil {
			return err
		}
		p := openami.Principal{AccountID: inst.AccountID, Region: inst.Region}
		subnet, vpc, fw, err := s.networks.Network(tx, p, inst)
		if err != nil {
			return err
		}
		out = openami.InstanceNetwork{
			Subnet: subnet, VPC: vpc, Firewall: fw,
			Hostname: "ip-" + strings.ReplaceAll(inst.PrivateIP, ".", "-"),
			Domain:   privateDomain(inst.Region),
		}
		if out.PrivateIP, err = netip.ParseAddr(inst.PrivateIP); err != nil {
			return fmt.Errorf("instance %s: private address %q: %w", inst.ID, inst.PrivateIP, err)
		}
		if inst.PublicIP != "" {
			if out.PublicIP, err = netip.ParseAddr(inst.PublicIP); err != nil {
				return fmt.Errorf("instance %s: public address %q: %w", inst.ID, inst.PublicIP, err)
			}
		}
		return nil
	})
	return out, err
}

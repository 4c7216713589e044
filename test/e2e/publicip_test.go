package e2e

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami"
	"github.com/openami/openami/service"
)

// TestPublicAddresses: every pending or running instance holds a public
// address of the server's pool, unique across accounts, shown as EC2
// shows it; a stop or terminate gives it back and a start takes a new
// one; a pool with no free address refuses the launch (or start) with
// InsufficientAddressCapacity and records nothing.
func TestPublicAddresses(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			// A /29: its network and broadcast addresses aside, 6.
			pool := netip.MustParsePrefix("127.77.250.0/29")
			s := startWith(t, kind, func(c *service.Config) { c.PublicIPs = pool })
			ctx := context.Background()
			ca, cb := s.account(t, "a"), s.account(t, "b")
			ea, eb := s.ec2(ca, "us-east-1"), s.ec2(cb, "us-east-1")
			imgA, imgB := registerTestImage(t, s, ea, ca, "image-a"), registerTestImage(t, s, eb, cb, "image-b")
			run := func(e *ec2.Client, img string, n int32) ([]types.Instance, error) {
				out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
					MinCount: aws.Int32(n), MaxCount: aws.Int32(n)})
				if err != nil {
					return nil, err
				}
				return out.Instances, nil
			}
			a, err := run(ea, imgA, 4)
			if err != nil {
				t.Fatal(err)
			}
			b, err := run(eb, imgB, 2)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, i := range append(a, b...) {
				ip := aws.ToString(i.PublicIpAddress)
				addr, err := netip.ParseAddr(ip)
				if err != nil || !pool.Contains(addr) || addr == pool.Addr() || seen[ip] {
					t.Fatalf("instance %s: public address %q: not a fresh usable address of %s", *i.InstanceId, ip, pool)
				}
				seen[ip] = true
			}

			// The pool is full: nothing is launched, no volume is made.
			volsBefore := countVolumes(t, eb)
			_, err = run(eb, imgB, 1)
			wantCode(t, err, "InsufficientAddressCapacity")
			if n := countInstances(t, eb); n != 2 {
				t.Errorf("%d instances of b after a refused launch, want 2", n)
			}
			if n := countVolumes(t, eb); n != volsBefore {
				t.Errorf("%d volumes of b after a refused launch, want %d", n, volsBefore)
			}

			// As EC2 shows them: the instance, its interface and its
			// private address's association.
			running := ec2.NewInstanceRunningWaiter(ea, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
			if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{*a[0].InstanceId}}, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			inst := describeOne(t, ea, *a[0].InstanceId)
			ip := aws.ToString(inst.PublicIpAddress)
			wantDNS := "ec2-" + dashes(ip) + ".compute-1.amazonaws.com"
			if aws.ToString(inst.PublicDnsName) != wantDNS || len(inst.NetworkInterfaces) != 1 ||
				inst.NetworkInterfaces[0].Association == nil || aws.ToString(inst.NetworkInterfaces[0].Association.PublicIp) != ip ||
				aws.ToString(inst.NetworkInterfaces[0].Association.PublicDnsName) != wantDNS ||
				inst.NetworkInterfaces[0].PrivateIpAddresses[0].Association == nil {
				t.Errorf("instance %s with %s: PublicDnsName %q, interfaces %+v", *inst.InstanceId, ip, aws.ToString(inst.PublicDnsName), inst.NetworkInterfaces)
			}

			// Filtered by them.
			for name, value := range map[string]string{"ip-address": ip, "dns-name": wantDNS} {
				out, err := ea.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String(name), Values: []string{value}}}})
				if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 || *out.Reservations[0].Instances[0].InstanceId != *inst.InstanceId {
					t.Errorf("filter %s=%s: %v %+v", name, value, err, out)
				}
			}

			// Its network, as the runtime gets it: the default group
			// admits only its own members; everything goes out.
			n, err := s.svc.Instances().InstanceNetwork(ctx, "us-east-1", *inst.InstanceId)
			if err != nil {
				t.Fatal(err)
			}
			host := netip.MustParseAddr("127.0.0.1")
			if n.PrivateIP.String() != aws.ToString(inst.PrivateIpAddress) || n.PublicIP.String() != ip ||
				n.Hostname != "ip-"+dashes(n.PrivateIP.String()) || n.Domain != "ec2.internal" ||
				n.Subnet != netip.MustParsePrefix("172.31.0.0/20") || n.VPC != netip.MustParsePrefix("172.31.0.0/16") ||
				n.Firewall.AllowsIn(openami.ProtocolTCP, 22, host) || !n.Firewall.AllowsIn(openami.ProtocolTCP, 22, netip.MustParseAddr(*a[1].PrivateIpAddress)) ||
				n.Firewall.AllowsIn(openami.ProtocolTCP, 22, netip.MustParseAddr("172.31.200.1")) ||
				!n.Firewall.AllowsOut(openami.ProtocolUDP, 53, netip.MustParseAddr("192.0.2.1")) {
				t.Errorf("network of %s: %+v", *inst.InstanceId, n)
			}

			// A stop gives the address back, and another launch takes it.
			if _, err := ea.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{*a[0].InstanceId}}); err != nil {
				t.Fatal(err)
			}
			stopped := ec2.NewInstanceStoppedWaiter(ea, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
			if err := stopped.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{*a[0].InstanceId}}, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := describeOne(t, ea, *a[0].InstanceId); got.PublicIpAddress != nil || aws.ToString(got.PublicDnsName) != "" {
				t.Errorf("stopped instance keeps %q %q", aws.ToString(got.PublicIpAddress), aws.ToString(got.PublicDnsName))
			}
			// Between MinCount and MaxCount: as many as the pool has room for.
			more, err := eb.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(imgB), InstanceType: types.InstanceTypeT3Micro,
				MinCount: aws.Int32(1), MaxCount: aws.Int32(3)})
			if err != nil {
				t.Fatalf("launch after a stop freed an address: %v", err)
			}
			if len(more.Instances) != 1 || aws.ToString(more.Instances[0].PublicIpAddress) != ip {
				t.Errorf("MinCount 1, MaxCount 3 with one free address launched %d, the first with %q; want 1 with the freed %s",
					len(more.Instances), aws.ToString(more.Instances[0].PublicIpAddress), ip)
			}
			// Full again: the stopped instance cannot start.
			_, err = ea.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{*a[0].InstanceId}})
			wantCode(t, err, "InsufficientAddressCapacity")
			if got := describeOne(t, ea, *a[0].InstanceId); got.State.Name != types.InstanceStateNameStopped {
				t.Errorf("refused start left the instance %s", got.State.Name)
			}
			// A terminate frees one; the start then succeeds.
			if _, err := eb.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*b[0].InstanceId}}); err != nil {
				t.Fatal(err)
			}
			terminated := ec2.NewInstanceTerminatedWaiter(eb, func(o *ec2.InstanceTerminatedWaiterOptions) {
				o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
			})
			if err := terminated.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{*b[0].InstanceId}}, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			start, err := ea.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{*a[0].InstanceId}})
			if err != nil {
				t.Fatalf("start after a terminate freed an address: %v", err)
			}
			_ = start
			if got := describeOne(t, ea, *a[0].InstanceId); aws.ToString(got.PublicIpAddress) != aws.ToString(b[0].PublicIpAddress) {
				t.Errorf("started instance took %q, want the freed %s", aws.ToString(got.PublicIpAddress), aws.ToString(b[0].PublicIpAddress))
			}
		})
	}
}

func describeOne(t testing.TB, e *ec2.Client, id string) types.Instance {
	t.Helper()
	out, err := e.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances %s: %v %+v", id, err, out)
	}
	return out.Reservations[0].Instances[0]
}

func countInstances(t *testing.T, e *ec2.Client) int {
	t.Helper()
	out, err := e.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range out.Reservations {
		n += len(r.Instances)
	}
	return n
}

func countVolumes(t *testing.T, e *ec2.Client) int {
	t.Helper()
	out, err := e.DescribeVolumes(context.Background(), &ec2.DescribeVolumesInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Volumes)
}

func dashes(ip string) string {
	b := []byte(ip)
	for i := range b {
		if b[i] == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}

// TestPublicAddressesConcurrent: launches racing for the pool's
// addresses each get their own (the store's unique index, and PostgreSQL's
// serialization, settle the race), and those beyond the pool are refused.
func TestPublicAddressesConcurrent(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			pool := netip.MustParsePrefix("127.77.251.0/29") // 6 addresses
			s := startWith(t, kind, func(c *service.Config) { c.PublicIPs = pool })
			ctx := context.Background()
			c := s.account(t, "racer")
			e := s.ec2(c, "us-east-1")
			img := registerTestImage(t, s, e, c, "image-race")
			const launches = 8
			type result struct {
				ip  string
				err error
			}
			results := make(chan result, launches)
			for range launches {
				go func() {
					out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
						MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
					if err != nil {
						results <- result{err: err}
						return
					}
					results <- result{ip: aws.ToString(out.Instances[0].PublicIpAddress)}
				}()
			}
			seen := map[string]bool{}
			refused := 0
			for range launches {
				r := <-results
				if r.err != nil {
					wantCode(t, r.err, "InsufficientAddressCapacity")
					refused++
					continue
				}
				if seen[r.ip] {
					t.Errorf("two instances got %s", r.ip)
				}
				seen[r.ip] = true
			}
			if len(seen) != 6 || refused != 2 {
				t.Errorf("%d launched with distinct addresses, %d refused; want 6 and 2", len(seen), refused)
			}
			if n := countInstances(t, e); n != 6 {
				t.Errorf("%d instances recorded, want 6", n)
			}
		})
	}
}

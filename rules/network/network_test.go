package network

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Networks over a SQLite store, with the instances they ask
// about held in a list the test fills.
type fixture struct {
	n     *Networks
	store metadata.Store
	p     openami.Principal
	live  []openami.Instance
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	f := &fixture{store: env.Store, p: openami.Principal{AccountID: "111111111111", Region: "us-east-1"}}
	f.n = New(Config{Store: env.Store, Identity: env.Identity(), Tokens: env.Tokens,
		Instances: func(tx metadata.Tx, region, accountID string) ([]openami.Instance, error) {
			var out []openami.Instance
			for _, i := range f.live {
				if i.Region == region && i.AccountID == accountID {
					out = append(out, i)
				}
			}
			return out, nil
		}})
	return f
}

func (f *fixture) view(t *testing.T, fn func(tx metadata.Tx) error) {
	t.Helper()
	if err := f.store.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) update(t *testing.T, fn func(tx metadata.Tx) error) {
	t.Helper()
	if err := f.store.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultsKeepTheirIDs: the default network answers with the ids
// openami always derived, before it is stored (a read-only transaction,
// as the metadata service's) and after; storing it twice changes nothing.
func TestDefaultsKeepTheirIDs(t *testing.T) {
	f := newFixture(t)
	vpcID := ids.Derived("vpc", f.p.AccountID, f.p.Region)
	sgID := ids.Derived("sg", f.p.AccountID, f.p.Region)
	subnetID := ids.Derived("subnet", f.p.AccountID, f.p.Region, "us-east-1b")
	inst := openami.Instance{ID: "i-1", Region: f.p.Region, AccountID: f.p.AccountID, SubnetID: subnetID, VpcID: vpcID,
		SecurityGroupIDs: []string{sgID}, PrivateIP: "172.31.16.4", State: openami.InstanceRunning}
	check := func() {
		f.view(t, func(tx metadata.Tx) error {
			subnet, vpc, fw, err := f.n.Network(tx, f.p, inst)
			if err != nil {
				return err
			}
			if subnet != netip.MustParsePrefix("172.31.16.0/20") || vpc != netip.MustParsePrefix("172.31.0.0/16") {
				t.Errorf("subnet %v, VPC %v", subnet, vpc)
			}
			names, err := f.n.GroupNames(tx, f.p.Region, f.p.AccountID, inst.SecurityGroupIDs)
			if err != nil || !slices.Equal(names, []string{"default"}) {
				t.Errorf("group names %v %v", names, err)
			}
			// The default group: in from its members (the instance itself,
			// once it runs), out to anywhere.
			if !fw.AllowsOut(openami.ProtocolTCP, 443, netip.MustParseAddr("8.8.8.8")) ||
				fw.AllowsIn(openami.ProtocolTCP, 22, netip.MustParseAddr("8.8.8.8")) {
				t.Errorf("default firewall %+v", fw)
			}
			return nil
		})
	}
	check() // nothing stored yet
	f.live = []openami.Instance{inst}
	for range 2 {
		f.update(t, func(tx metadata.Tx) error { return f.n.defaults(tx, f.p) })
	}
	check()
	f.view(t, func(tx metadata.Tx) error {
		groups, err := tx.Networks().ListGroups(f.p.Region, metadata.NetworkQuery{AccountID: f.p.AccountID})
		if err != nil || len(groups) != 1 || groups[0].ID != sgID {
			t.Errorf("stored groups %+v %v", groups, err)
		}
		subnets, err := tx.Networks().ListSubnets(f.p.Region, metadata.NetworkQuery{AccountID: f.p.AccountID})
		if err != nil || len(subnets) != 6 {
			t.Errorf("stored %d default subnets, want one per zone: %v", len(subnets), err)
		}
		return err
	})
}

// TestFirewall resolves groups into the firewall a runtime enforces:
// CIDR rules as prefixes, group references as the /32s of the running and
// pending members only, egress apart from ingress.
func TestFirewall(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	vpc, err := f.n.CreateVpc(ctx, f.p, CreateVpcInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.n.CreateSubnet(ctx, f.p, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	web, err := f.n.CreateSecurityGroup(ctx, f.p, CreateSecurityGroupInput{Name: "web", Description: "w", VpcID: vpc.ID})
	if err != nil {
		t.Fatal(err)
	}
	app, err := f.n.CreateSecurityGroup(ctx, f.p, CreateSecurityGroupInput{Name: "app", Description: "a", VpcID: vpc.ID})
	if err != nil {
		t.Fatal(err)
	}
	port := func(n int) *int { return &n }
	if _, err := f.n.Authorize(ctx, f.p, AuthorizeInput{GroupID: web.ID, Permissions: []Permission{
		{Protocol: "tcp", FromPort: port(22), ToPort: port(22), IPRanges: []Range{{CIDR: "203.0.113.0/24"}}},
		{Protocol: "tcp", FromPort: port(8080), ToPort: port(8090), Groups: []GroupPair{{GroupID: app.ID}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.n.Revoke(ctx, f.p, RevokeInput{GroupID: web.ID, Egress: true, Permissions: []Permission{
		{Protocol: "-1", IPRanges: []Range{{CIDR: "0.0.0.0/0"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.n.Authorize(ctx, f.p, AuthorizeInput{GroupID: web.ID, Egress: true, Permissions: []Permission{
		{Protocol: "udp", FromPort: port(53), ToPort: port(53), IPRanges: []Range{{CIDR: "10.0.0.2/32"}}}}}); err != nil {
		t.Fatal(err)
	}
	member := func(id, ip string, state openami.InstanceState) openami.Instance {
		return openami.Instance{ID: id, Region: f.p.Region, AccountID: f.p.AccountID, SubnetID: sub.ID, VpcID: vpc.ID,
			SecurityGroupIDs: []string{app.ID}, PrivateIP: ip, State: state}
	}
	w := openami.Instance{ID: "i-web", Region: f.p.Region, AccountID: f.p.AccountID, SubnetID: sub.ID, VpcID: vpc.ID,
		SecurityGroupIDs: []string{web.ID}, PrivateIP: "10.0.1.4", State: openami.InstanceRunning}
	f.live = []openami.Instance{w, member("i-a", "10.0.1.5", openami.InstanceRunning), member("i-b", "10.0.1.6", openami.InstancePending),
		member("i-c", "10.0.1.7", openami.InstanceStopped)}

	f.view(t, func(tx metadata.Tx) error {
		subnet, vpcPfx, fw, err := f.n.Network(tx, f.p, w)
		if err != nil {
			return err
		}
		if subnet.String() != "10.0.1.0/24" || vpcPfx.String() != "10.0.0.0/16" {
			t.Errorf("subnet %v VPC %v", subnet, vpcPfx)
		}
		for _, c := range []struct {
			in    bool
			proto string
			port  int
			addr  string
			want  bool
		}{
			{true, "tcp", 22, "203.0.113.9", true},
			{true, "tcp", 22, "198.51.100.1", false},
			{true, "udp", 22, "203.0.113.9", false},
			{true, "tcp", 8085, "10.0.1.5", true},  // running member of app
			{true, "tcp", 8085, "10.0.1.6", true},  // pending member
			{true, "tcp", 8085, "10.0.1.7", false}, // stopped: no address to allow
			{true, "tcp", 8091, "10.0.1.5", false},
			{false, "udp", 53, "10.0.0.2", true},
			{false, "tcp", 443, "8.8.8.8", false}, // the default egress was revoked
		} {
			got := fw.AllowsOut(c.proto, c.port, netip.MustParseAddr(c.addr))
			if c.in {
				got = fw.AllowsIn(c.proto, c.port, netip.MustParseAddr(c.addr))
			}
			if got != c.want {
				t.Errorf("in=%v %s/%d from %s: %v, want %v", c.in, c.proto, c.port, c.addr, got, c.want)
			}
		}
		return nil
	})
}

// TestRefusalsChangeNothing: each refused change leaves the group's rules
// and the VPC's subnets as they were.
func TestRefusalsChangeNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	vpc, err := f.n.CreateVpc(ctx, f.p, CreateVpcInput{CIDR: "10.0.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.n.CreateSubnet(ctx, f.p, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.0.0/25"}); err != nil {
		t.Fatal(err)
	}
	g, err := f.n.CreateSecurityGroup(ctx, f.p, CreateSecurityGroupInput{Name: "g", Description: "g", VpcID: vpc.ID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.n.CreateSecurityGroup(ctx, f.p, CreateSecurityGroupInput{Name: "g", Description: "in the default VPC"})
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func() (openami.SecurityGroup, []openami.Subnet) {
		var grp openami.SecurityGroup
		var subs []openami.Subnet
		f.view(t, func(tx metadata.Tx) error {
			var err error
			if grp, err = tx.Networks().GetGroup(f.p.Region, g.ID); err != nil {
				return err
			}
			subs, err = tx.Networks().ListSubnets(f.p.Region, metadata.NetworkQuery{AccountID: f.p.AccountID, VpcID: vpc.ID})
			return err
		})
		return grp, subs
	}
	g0, s0 := snapshot()
	port := func(n int) *int { return &n }
	for _, c := range []struct {
		what string
		err  error
		want openami.Class
	}{
		{"overlap", func() error {
			_, err := f.n.CreateSubnet(ctx, f.p, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.0.64/26"})
			return err
		}(), openami.InvalidParameter},
		{"outside", func() error {
			_, err := f.n.CreateSubnet(ctx, f.p, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.1.0/26"})
			return err
		}(), openami.InvalidParameter},
		{"other VPC's group", func() error {
			_, err := f.n.Authorize(ctx, f.p, AuthorizeInput{GroupID: g.ID, Permissions: []Permission{
				{Protocol: "tcp", FromPort: port(1), ToPort: port(2), IPRanges: []Range{{CIDR: "1.1.1.1/32"}}},
				{Protocol: "-1", Groups: []GroupPair{{GroupID: other.ID}}}}})
			return err
		}(), openami.NotFound},
		{"bad ports", func() error {
			_, err := f.n.Authorize(ctx, f.p, AuthorizeInput{GroupID: g.ID, Permissions: []Permission{
				{Protocol: "tcp", FromPort: port(1), ToPort: port(2), IPRanges: []Range{{CIDR: "1.1.1.1/32"}}},
				{Protocol: "tcp", FromPort: port(-1), ToPort: port(2), IPRanges: []Range{{CIDR: "1.1.1.1/32"}}}}})
			return err
		}(), openami.InvalidParameter},
		{"duplicate within the request", func() error {
			_, err := f.n.Authorize(ctx, f.p, AuthorizeInput{GroupID: g.ID, Permissions: []Permission{
				{Protocol: "tcp", FromPort: port(1), ToPort: port(2), IPRanges: []Range{{CIDR: "1.1.1.1/32"}, {CIDR: "1.1.1.1/32"}}}}})
			return err
		}(), openami.Duplicate},
		{"revoke absent", func() error {
			_, err := f.n.Revoke(ctx, f.p, RevokeInput{GroupID: g.ID, Permissions: []Permission{
				{Protocol: "tcp", FromPort: port(1), ToPort: port(2), IPRanges: []Range{{CIDR: "1.1.1.1/32"}}}}})
			return err
		}(), openami.NotFound},
		{"delete default group", f.n.DeleteSecurityGroup(ctx, f.p, "", "default"), openami.Unauthorized},
		{"a name of the wrong characters", func() error {
			_, err := f.n.CreateSecurityGroup(ctx, f.p, CreateSecurityGroupInput{Name: "bad\nname", Description: "d", VpcID: vpc.ID})
			return err
		}(), openami.InvalidParameter},
		{"the name default", func() error {
			_, err := f.n.CreateSecurityGroup(ctx, f.p, CreateSecurityGroupInput{Name: "default", Description: "d", VpcID: vpc.ID})
			return err
		}(), openami.Duplicate},
	} {
		if got := openami.ClassOf(c.err); got != c.want {
			t.Errorf("%s: %v (%s), want %s", c.what, c.err, got, c.want)
		}
	}
	g1, s1 := snapshot()
	if !slices.EqualFunc(g0.Rules, g1.Rules, func(a, b openami.SecurityGroupRule) bool { return a == b }) || len(s0) != len(s1) {
		t.Errorf("a refusal changed something: rules %+v → %+v, subnets %d → %d", g0.Rules, g1.Rules, len(s0), len(s1))
	}
}

// TestSubnetAddress: the usable addresses of a subnet skip AWS's reserved
// ones.
func TestSubnetAddress(t *testing.T) {
	for _, c := range []struct {
		cidr string
		k    int
		want string
		ok   bool
	}{
		{"10.0.0.0/28", 0, "10.0.0.4", true},
		{"10.0.0.0/28", 10, "10.0.0.14", true},
		{"10.0.0.0/28", 11, "", false},
		{"172.31.16.0/20", 0, "172.31.16.4", true},
		{"bogus", 0, "", false},
	} {
		got, ok := SubnetAddress(c.cidr, c.k)
		if got != c.want || ok != c.ok {
			t.Errorf("SubnetAddress(%s, %d) = %q %v, want %q %v", c.cidr, c.k, got, ok, c.want, c.ok)
		}
	}
}

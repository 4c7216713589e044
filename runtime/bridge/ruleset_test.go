package bridge

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openami/openami"
)

var update = flag.Bool("update", false, "rewrite the golden rulesets in testdata/")

// goldenRulesets are the texts of rulesets kept in testdata/NAME.nft: the
// host's table, and a VPC's namespace's with no instance, with two, and
// restricted.
func goldenRulesets() map[string]string {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	members := []member{
		{Tap: "oat0bbbbbbbbbbb", MAC: mac("02:00:00:00:00:0b"), Private: netip.MustParseAddr("10.9.2.20"),
			Public: netip.MustParseAddr("198.51.100.5"),
			Firewall: openami.Firewall{
				Ingress: []openami.FirewallRule{
					rule("tcp", 8080, 8080, "10.9.1.10/32", "10.9.1.11/32"), // a group's members
					rule("tcp", 9000, 9100, "0.0.0.0/0"),
					rule("udp", -1, -1, "192.0.2.0/24", "192.0.2.7/32", "2001:db8::/32"), // nested, IPv6 ignored
					rule("icmp", 8, -1, "10.9.0.0/16"),
					rule("icmp", 3, 4, "10.9.0.0/16"),
					rule("47", 0, 0, "203.0.113.0/24"),
					rule("tcp", 22, 22, "2001:db8::/32"), // IPv6 only: nothing
				},
				Egress: []openami.FirewallRule{rule("-1", 0, 0, "0.0.0.0/0")},
			}},
		{Tap: "oat0aaaaaaaaaaa", MAC: mac("02:00:00:00:00:0a"), Private: netip.MustParseAddr("10.9.1.10"),
			Firewall: openami.Firewall{
				Ingress: []openami.FirewallRule{rule("-1", 0, 0, "10.9.1.10/32", "10.9.2.20/32")}, // the default group
				Egress:  []openami.FirewallRule{rule("tcp", 0, 65535, "10.9.0.0/16")},
			}},
	}
	vpc := vpcNet{Bridge: "oab0123456789ab", CIDR: netip.MustParsePrefix("10.9.0.0/16"), IMDSPort: 40123,
		Resolver: netip.MustParseAddr("10.9.0.2"), Upstream: netip.MustParseAddr("192.0.2.53")}
	return map[string]string{
		"host":     hostText(),
		"empty":    ruleset{VPC: vpcNet{Bridge: "oab0123456789ab", CIDR: netip.MustParsePrefix("10.9.0.0/16"), IMDSPort: 40123}}.text(),
		"vpc":      ruleset{VPC: vpc, Members: members}.text(),
		"restrict": ruleset{VPC: vpc, Members: members, Restrict: true}.text(),
	}
}

// TestRulesetText checks the generated rulesets against their golden
// text (go test -run TestRulesetText -update rewrites it), and loads
// each into a real nft in a network namespace of its own.
func TestRulesetText(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		for name, got := range goldenRulesets() {
			path := filepath.Join("testdata", name+".nft")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("ruleset %s differs from %s (run with -update and review the diff):\n%s", name, path, got)
			}
		}
	}
	if !inFreshNetns(t) {
		return
	}
	for name, text := range goldenRulesets() {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("nft -f of ruleset %s: %v\n%s", name, err, out)
		}
		// Loading it again replaces it: the script is its own reload.
		cmd = exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("nft -f of ruleset %s again: %v\n%s", name, err, out)
		}
	}
}

func TestMergePrefixes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"10.0.0.5/32", "10.0.0.5/32"},
		{"10.0.0.5/32 10.0.0.0/24 10.0.1.0/24", "10.0.0.0/24 10.0.1.0/24"},
		{"10.0.0.0/8 0.0.0.0/0 ::/0", "0.0.0.0/0"},
		{"10.0.0.9/24 10.0.0.0/24", "10.0.0.0/24"},
	} {
		var in []netip.Prefix
		for _, f := range strings.Fields(tc.in) {
			in = append(in, netip.MustParsePrefix(f))
		}
		var got []string
		for _, p := range mergePrefixes(in) {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("mergePrefixes(%s) = %v, want %s", tc.in, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{BridgeName("vpc-0a1b2c3d4e5f67890"), "oab0a1b2c3d4e5f"},
		{TapName("i-0A1B2C3D4E5F67890"), "oat0a1b2c3d4e5f"},
		{TapName("i-12345678"), TapPrefix + idDigits("i-12345678")},
		{VethName("vpc-0a1b2c3d4e5f67890"), "oav0a1b2c3d4e5f"},
	} {
		if tc.got != tc.want || len(tc.got) > 15 {
			t.Errorf("name %q, want %q (at most 15 characters)", tc.got, tc.want)
		}
	}
	if TapName("i-12345678") == TapName("i-12345679") {
		t.Errorf("short ids share a name")
	}
}

package imds

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/instances"
)

// source is a Source over one instance.
type source struct {
	md  instances.InstanceMetadata
	err error
}

func (s *source) InstanceMetadata(ctx context.Context, region, id string) (instances.InstanceMetadata, error) {
	if s.err != nil {
		return instances.InstanceMetadata{}, s.err
	}
	if region != s.md.Instance.Region || id != s.md.Instance.ID {
		return instances.InstanceMetadata{}, openami.Errorf(openami.NotFound, openami.ResourceInstance, "no such instance")
	}
	return s.md, nil
}

func testInstance() instances.InstanceMetadata {
	return instances.InstanceMetadata{
		Instance: openami.Instance{
			ID: "i-0123456789abcdef0", Region: "us-east-1", AccountID: "123456789012", ReservationID: "r-0123456789abcdef0",
			ImageID: "ami-0123456789abcdef0", InstanceType: "t3.micro", KeyName: "laptop", AvailabilityZone: "us-east-1a",
			VpcID: "vpc-1", SubnetID: "subnet-1", SecurityGroupIDs: []string{"sg-1"}, PrivateIP: "172.31.16.5",
			MacAddress: "02:11:22:33:44:55", UserData: []byte("#!/bin/sh\necho hi\n"), Architecture: "x86_64",
			LaunchTime:     time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
			RootDeviceName: "/dev/xvda",
			BlockDevices: []openami.InstanceBlockDevice{
				{DeviceName: "/dev/xvda", VolumeID: "vol-1"}, {DeviceName: "/dev/sdc", VolumeID: "vol-3"}, {DeviceName: "/dev/sdb", VolumeID: "vol-2"},
			},
			InstanceStores:  []openami.InstanceStore{{DeviceName: "/dev/sdd", VirtualName: "ephemeral0"}},
			MetadataOptions: openami.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", InstanceMetadataTags: "disabled"},
		},
		PublicKey:          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample laptop",
		SecurityGroups:     []string{"default"},
		AvailabilityZoneID: "use1-az1",
		SubnetCIDR:         "172.31.16.0/20",
		VPCCIDRs:           []string{"172.31.0.0/16"},
	}
}

type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path string, header map[string]string) (int, string, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (c client) get(path string) (int, string) {
	c.t.Helper()
	code, body, _ := c.do("GET", path, nil)
	return code, body
}

func serve(t *testing.T, src *source) client {
	hs := httptest.NewServer(New(src, "us-east-1", "i-0123456789abcdef0"))
	t.Cleanup(hs.Close)
	return client{t: t, url: hs.URL}
}

// TestMetaData reads every leaf and listing a cloud-init guest reads.
func TestMetaData(t *testing.T) {
	c := serve(t, &source{md: testInstance()})
	for _, tc := range []struct{ path, want string }{
		{"/", "latest"},
		{"/latest/", "dynamic\nmeta-data\nuser-data"},
		{"/latest/meta-data/ami-id", "ami-0123456789abcdef0"},
		{"/2009-04-04/meta-data/instance-id", "i-0123456789abcdef0"},
		{"/latest/meta-data/instance-id", "i-0123456789abcdef0"},
		{"/latest/meta-data/instance-type", "t3.micro"},
		{"/latest/meta-data/hostname", "ip-172-31-16-5.ec2.internal"},
		{"/latest/meta-data/local-hostname", "ip-172-31-16-5.ec2.internal"},
		{"/latest/meta-data/local-ipv4", "172.31.16.5"},
		{"/latest/meta-data/mac", "02:11:22:33:44:55"},
		{"/latest/meta-data/reservation-id", "r-0123456789abcdef0"},
		{"/latest/meta-data/security-groups", "default"},
		{"/latest/meta-data/ami-launch-index", "0"},
		{"/latest/meta-data/placement/", "availability-zone\navailability-zone-id\nregion"},
		{"/latest/meta-data/placement/availability-zone", "us-east-1a"},
		{"/latest/meta-data/placement/availability-zone-id", "use1-az1"},
		{"/latest/meta-data/placement/region", "us-east-1"},
		{"/latest/meta-data/public-keys/", "0=laptop"},
		{"/latest/meta-data/public-keys", "0=laptop"},
		{"/latest/meta-data/public-keys/0/", "openssh-key"},
		{"/latest/meta-data/public-keys/0/openssh-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample laptop\n"},
		{"/latest/meta-data/block-device-mapping/", "ami\nebs1\nebs2\nephemeral0\nroot"},
		{"/latest/meta-data/block-device-mapping/ami", "xvda"},
		{"/latest/meta-data/block-device-mapping/root", "/dev/xvda"},
		{"/latest/meta-data/block-device-mapping/ebs1", "sdb"},
		{"/latest/meta-data/block-device-mapping/ebs2", "sdc"},
		{"/latest/meta-data/block-device-mapping/ephemeral0", "sdd"},
		{"/latest/meta-data/network/interfaces/macs/02:11:22:33:44:55/local-ipv4s", "172.31.16.5"},
		{"/latest/meta-data/network/interfaces/macs/02:11:22:33:44:55/subnet-id", "subnet-1"},
		{"/latest/user-data", "#!/bin/sh\necho hi\n"},
		{"/latest/dynamic/", "instance-identity/"},
		{"/latest/dynamic/instance-identity/", "document"},
	} {
		code, body := c.get(tc.path)
		if code != 200 || body != tc.want {
			t.Errorf("GET %s: %d %q, want 200 %q", tc.path, code, body, tc.want)
		}
	}
	code, listing := c.get("/latest/meta-data/")
	for _, want := range []string{"ami-id", "block-device-mapping/", "hostname", "instance-id", "instance-type", "local-hostname",
		"local-ipv4", "mac", "network/", "placement/", "public-keys/", "reservation-id", "security-groups", "services/"} {
		if code != 200 || !strings.Contains("\n"+listing+"\n", "\n"+want+"\n") {
			t.Errorf("meta-data/ listing lacks %q: %d %q", want, code, listing)
		}
	}
	for _, path := range []string{"/latest/meta-data/nothing", "/latest/meta-data/ami-id/", "/latest/meta-data/public-keys/1/openssh-key",
		"/latest/nothing", "/1.0/meta-data/ami-id", "/latest/meta-data/tags/instance"} {
		if code, _ := c.get(path); code != 404 {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
}

// TestNetwork reads every path of network/interfaces/macs/ and the
// top-level public-* and security-groups, as cloud-init's Ec2 datasource
// (which renders its network configuration from them once it knows it
// is on AWS) and the AWS tools read them; without a public address the
// public paths are 404, as on EC2.
func TestNetwork(t *testing.T) {
	const mac = "/latest/meta-data/network/interfaces/macs/02:11:22:33:44:55/"
	md := testInstance()
	md.Instance.SecurityGroupIDs = []string{"sg-1", "sg-2"}
	md.SecurityGroups = []string{"default", "web"}
	md.Instance.PublicIP = "127.16.0.9"
	c := serve(t, &source{md: md})
	for _, tc := range []struct{ path, want string }{
		{"/latest/meta-data/network/", "interfaces/"},
		{"/latest/meta-data/network/interfaces/", "macs/"},
		{"/latest/meta-data/network/interfaces/macs/", "02:11:22:33:44:55/"},
		{mac, "device-number\ninterface-id\nipv4-associations/\nlocal-hostname\nlocal-ipv4s\nmac\nowner-id\n" +
			"public-hostname\npublic-ipv4s\nsecurity-group-ids\nsecurity-groups\nsubnet-id\nsubnet-ipv4-cidr-block\n" +
			"vpc-id\nvpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks"},
		{mac + "device-number", "0"},
		{mac + "interface-id", "eni-0123456789abcdef0"},
		{mac + "ipv4-associations/", "127.16.0.9"},
		{mac + "ipv4-associations/127.16.0.9", "172.31.16.5"},
		{mac + "local-hostname", "ip-172-31-16-5.ec2.internal"},
		{mac + "local-ipv4s", "172.31.16.5"},
		{mac + "mac", "02:11:22:33:44:55"},
		{mac + "owner-id", "123456789012"},
		{mac + "public-hostname", "ec2-127-16-0-9.compute-1.amazonaws.com"},
		{mac + "public-ipv4s", "127.16.0.9"},
		{mac + "security-group-ids", "sg-1\nsg-2"},
		{mac + "security-groups", "default\nweb"},
		{mac + "subnet-id", "subnet-1"},
		{mac + "subnet-ipv4-cidr-block", "172.31.16.0/20"},
		{mac + "vpc-id", "vpc-1"},
		{mac + "vpc-ipv4-cidr-block", "172.31.0.0/16"},
		{mac + "vpc-ipv4-cidr-blocks", "172.31.0.0/16"},
		{"/latest/meta-data/public-ipv4", "127.16.0.9"},
		{"/latest/meta-data/public-hostname", "ec2-127-16-0-9.compute-1.amazonaws.com"},
		{"/latest/meta-data/local-hostname", "ip-172-31-16-5.ec2.internal"},
		{"/latest/meta-data/security-groups", "default\nweb"},
	} {
		code, body := c.get(tc.path)
		if code != 200 || body != tc.want {
			t.Errorf("GET %s: %d %q, want 200 %q", tc.path, code, body, tc.want)
		}
	}
	if _, listing := c.get("/latest/meta-data/"); !strings.Contains(listing, "\npublic-hostname\npublic-ipv4\n") {
		t.Errorf("meta-data/ does not list public-hostname and public-ipv4: %q", listing)
	}

	// Another region names public hosts after the region.
	md.Instance.Region, md.Instance.AvailabilityZone = "eu-west-1", "eu-west-1a"
	hs := httptest.NewServer(New(&source{md: md}, "eu-west-1", "i-0123456789abcdef0"))
	defer hs.Close()
	if code, body := (client{t: t, url: hs.URL}).get("/latest/meta-data/public-hostname"); code != 200 || body != "ec2-127-16-0-9.eu-west-1.compute.amazonaws.com" {
		t.Errorf("public-hostname in eu-west-1: %d %q", code, body)
	}

	// No public address: no public paths, as on EC2.
	md = testInstance()
	c = serve(t, &source{md: md})
	for _, path := range []string{"/latest/meta-data/public-ipv4", "/latest/meta-data/public-hostname",
		mac + "public-ipv4s", mac + "public-hostname", mac + "ipv4-associations/"} {
		if code, _ := c.get(path); code != 404 {
			t.Errorf("GET %s without a public address: %d, want 404", path, code)
		}
	}
	for _, listing := range []string{"/latest/meta-data/", mac} {
		if _, body := c.get(listing); strings.Contains(body, "public-ipv4") || strings.Contains(body, "public-hostname") ||
			strings.Contains(body, "ipv4-associations") {
			t.Errorf("%s lists public paths without a public address: %q", listing, body)
		}
	}
	// Unknown subnet and VPC: their CIDR blocks are not there either.
	md.SubnetCIDR, md.VPCCIDRs = "", nil
	c = serve(t, &source{md: md})
	for _, path := range []string{mac + "subnet-ipv4-cidr-block", mac + "vpc-ipv4-cidr-block", mac + "vpc-ipv4-cidr-blocks"} {
		if code, _ := c.get(path); code != 404 {
			t.Errorf("GET %s without a known subnet and VPC: %d, want 404", path, code)
		}
	}
}

// TestIdentityDocument checks the JSON of dynamic/instance-identity/document.
func TestIdentityDocument(t *testing.T) {
	c := serve(t, &source{md: testInstance()})
	code, body := c.get("/latest/dynamic/instance-identity/document")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"accountId": "123456789012", "architecture": "x86_64", "availabilityZone": "us-east-1a",
		"imageId": "ami-0123456789abcdef0", "instanceId": "i-0123456789abcdef0", "instanceType": "t3.micro",
		"pendingTime": "2026-11-22T10:00:00Z", "privateIp": "172.31.16.5", "region": "us-east-1", "version": "2017-09-30",
		"kernelId": nil, "ramdiskId": nil}
	for k, v := range want {
		if got, ok := doc[k]; !ok || got != v {
			t.Errorf("document %s = %v, want %v", k, got, v)
		}
	}
}

// TestNoUserDataNoKey: 404 for user-data and public-keys when there are none.
func TestNoUserDataNoKey(t *testing.T) {
	md := testInstance()
	md.Instance.UserData, md.PublicKey, md.Instance.KeyName = nil, "", ""
	c := serve(t, &source{md: md})
	for _, path := range []string{"/latest/user-data", "/latest/meta-data/public-keys/", "/latest/meta-data/public-keys/0/openssh-key"} {
		if code, _ := c.get(path); code != 404 {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	if _, listing := c.get("/latest/meta-data/"); strings.Contains(listing, "public-keys") {
		t.Errorf("meta-data/ lists public-keys without a key: %q", listing)
	}
}

// TestTags: tags/instance only when InstanceMetadataTags is enabled.
func TestTags(t *testing.T) {
	md := testInstance()
	md.Instance.MetadataOptions.InstanceMetadataTags = "enabled"
	md.Tags = []openami.Tag{{Key: "Name", Value: "web"}, {Key: "env", Value: "prod"}}
	c := serve(t, &source{md: md})
	if code, body := c.get("/latest/meta-data/tags/instance/"); code != 200 || body != "Name\nenv" {
		t.Errorf("tags listing: %d %q", code, body)
	}
	if code, body := c.get("/latest/meta-data/tags/instance/Name"); code != 200 || body != "web" {
		t.Errorf("tag Name: %d %q", code, body)
	}
}

// TestTokens walks IMDSv2: tokens issued for a TTL, sent back, checked;
// required tokens refuse plain GETs; bad TTLs, proxies and forged or
// expired tokens are refused.
func TestTokens(t *testing.T) {
	src := &source{md: testInstance()}
	h := New(src, "us-east-1", "i-0123456789abcdef0")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	hs := httptest.NewServer(h)
	defer hs.Close()
	c := client{t: t, url: hs.URL}

	const ttlHeader = "X-aws-ec2-metadata-token-ttl-seconds"
	code, tok, hdr := c.do("PUT", "/latest/api/token", map[string]string{ttlHeader: "60"})
	if code != 200 || tok == "" || hdr.Get(ttlHeader) != "60" {
		t.Fatalf("PUT token: %d %q %v", code, tok, hdr)
	}
	withTok := map[string]string{"X-aws-ec2-metadata-token": tok}
	if code, body, _ := c.do("GET", "/latest/meta-data/instance-id", withTok); code != 200 || body != "i-0123456789abcdef0" {
		t.Fatalf("GET with token: %d %q", code, body)
	}
	// Optional tokens: a plain GET works.
	if code, _ := c.get("/latest/meta-data/instance-id"); code != 200 {
		t.Fatalf("IMDSv1 GET with optional tokens: %d", code)
	}
	for _, bad := range []map[string]string{
		{ttlHeader: "0"}, {ttlHeader: "21601"}, {ttlHeader: "abc"}, {},
	} {
		if code, _, _ := c.do("PUT", "/latest/api/token", bad); code != 400 {
			t.Errorf("PUT token with %v: %d, want 400", bad, code)
		}
	}
	if code, _, _ := c.do("PUT", "/latest/api/token", map[string]string{ttlHeader: "60", "X-Forwarded-For": "10.0.0.1"}); code != 403 {
		t.Errorf("PUT token through a proxy: %d, want 403", code)
	}
	if code, _, _ := c.do("GET", "/latest/api/token", nil); code != 405 {
		t.Errorf("GET token: %d, want 405", code)
	}
	if code, _, _ := c.do("POST", "/latest/meta-data/instance-id", nil); code != 405 {
		t.Errorf("POST meta-data: %d, want 405", code)
	}
	// A forged token, another handler's token, and an expired one: 401.
	other := New(src, "us-east-1", "i-0123456789abcdef0")
	ohs := httptest.NewServer(other)
	defer ohs.Close()
	_, otherTok, _ := client{t: t, url: ohs.URL}.do("PUT", "/latest/api/token", map[string]string{ttlHeader: "60"})
	for _, bad := range []string{"forged", otherTok, tok[:len(tok)-2] + "AA"} {
		if code, _, _ := c.do("GET", "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": bad}); code != 401 {
			t.Errorf("GET with token %q: %d, want 401", bad, code)
		}
	}
	now = now.Add(61 * time.Second)
	if code, _, _ := c.do("GET", "/latest/meta-data/instance-id", withTok); code != 401 {
		t.Errorf("GET with an expired token: %d, want 401", code)
	}

	// Required tokens (HttpTokens required, as ImdsSupport v2.0 sets at
	// launch): plain GETs are 401, with a token 200.
	src.md.Instance.MetadataOptions.HttpTokens = "required"
	if code, _ := c.get("/latest/meta-data/instance-id"); code != 401 {
		t.Errorf("IMDSv1 GET with required tokens: %d, want 401", code)
	}
	if code, _ := c.get("/latest/user-data"); code != 401 {
		t.Errorf("IMDSv1 user-data with required tokens: %d, want 401", code)
	}
	_, tok, _ = c.do("PUT", "/latest/api/token", map[string]string{ttlHeader: "21600"})
	if code, body, _ := c.do("GET", "/latest/user-data", map[string]string{"X-aws-ec2-metadata-token": tok}); code != 200 || body != "#!/bin/sh\necho hi\n" {
		t.Errorf("user-data with a token: %d %q", code, body)
	}
}

// TestDisabled: with HttpEndpoint disabled, or for an instance that is
// gone, the connection is closed without an answer.
func TestDisabled(t *testing.T) {
	md := testInstance()
	md.Instance.MetadataOptions.HttpEndpoint = "disabled"
	for name, src := range map[string]*source{"disabled": {md: md}, "gone": {err: openami.Errorf(openami.NotFound, openami.ResourceInstance, "gone")}} {
		hs := httptest.NewServer(New(src, "us-east-1", "i-0123456789abcdef0"))
		resp, err := http.Get(hs.URL + "/latest/meta-data/instance-id")
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d", name, resp.StatusCode)
		}
		hs.Close()
	}
}

// TestOnlyItsOwnInstance: a handler serves the instance it was made for,
// whatever the request says.
func TestOnlyItsOwnInstance(t *testing.T) {
	md := testInstance()
	hs := httptest.NewServer(New(&source{md: md}, "us-east-1", "i-0fffffffffffffff0"))
	defer hs.Close()
	if resp, err := http.Get(hs.URL + "/latest/meta-data/instance-id?instance=i-0123456789abcdef0"); err == nil {
		resp.Body.Close()
		t.Fatalf("a handler of another instance answered %d", resp.StatusCode)
	}
}

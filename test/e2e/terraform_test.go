package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"
)

// tfCommandTimeout bounds each terraform command. A normal run takes a few
// seconds; the bound only stops a hung provider from hanging the test.
const tfCommandTimeout = 3 * time.Minute

// tfProvider is the provider the filesystem mirror must hold.
const tfProvider = "registry.terraform.io/hashicorp/aws"

// terraformMirror returns the filesystem mirror directory that holds the AWS
// provider: $OPENAMI_TF_MIRROR if set, else the first of the usual places
// (the machine image installs it under /opt/tf-plugins).
func terraformMirror(t *testing.T) string {
	t.Helper()
	holds := func(dir string) bool {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(tfProvider)))
		return err == nil && fi.IsDir()
	}
	if dir := os.Getenv("OPENAMI_TF_MIRROR"); dir != "" {
		if !holds(dir) {
			t.Fatalf("OPENAMI_TF_MIRROR=%s does not hold %s", dir, tfProvider)
		}
		return dir
	}
	home, _ := os.UserHomeDir()
	candidates := []string{
		"/opt/tf-plugins",
		filepath.Join(home, ".terraform.d", "plugins"),
		filepath.Join(home, ".local", "share", "terraform", "plugins"),
		"/usr/local/share/terraform/plugins",
		"/usr/share/terraform/plugins",
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		candidates = append(candidates, filepath.Join(x, "terraform", "plugins"))
	}
	for _, dir := range candidates {
		if holds(dir) {
			return dir
		}
	}
	// A few levels below the usual roots, for an image that put it elsewhere.
	for _, root := range []string{"/opt", "/usr/local", "/usr/share", "/srv", home} {
		for depth := 1; depth <= 3; depth++ {
			pattern := filepath.Join(append([]string{root}, slices.Repeat([]string{"*"}, depth)...)...)
			matches, _ := filepath.Glob(filepath.Join(pattern, filepath.FromSlash(tfProvider)))
			for _, m := range matches {
				return strings.TrimSuffix(m, string(filepath.Separator)+filepath.FromSlash(tfProvider))
			}
		}
	}
	t.Fatalf("no Terraform filesystem mirror holding %s found (looked in %s and a few levels under /opt, /usr/local, /usr/share, /srv, $HOME); "+
		"install the AWS provider 5.100 into a mirror or set OPENAMI_TF_MIRROR to the folder that holds registry.terraform.io/",
		tfProvider, strings.Join(candidates, ", "))
	return ""
}

// tf runs terraform commands in one working directory with a private CLI
// configuration and data directory.
type tf struct {
	t   *testing.T
	dir string
	env []string
	log string // provider debug log, shown when a command fails
	// timeout bounds each command in place of tfCommandTimeout when set:
	// an apply that waits for a guest to boot takes minutes.
	timeout time.Duration
}

func newTF(t *testing.T, mirror string) *tf {
	t.Helper()
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Fatal("terraform is not on the PATH; install Terraform 1.11 (the machine image has it in /usr/local/bin)")
	}
	base := t.TempDir()
	work := filepath.Join(base, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	cliConfig := filepath.Join(base, "cli.tfrc")
	writeFile(t, cliConfig, fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = [%q]
  }
  direct {
    exclude = [%q]
  }
}
`, mirror, tfProvider, tfProvider))

	// The machine's AWS_* and TF_* settings must not leak into the run:
	// credentials, profiles or endpoint overrides would point terraform
	// elsewhere than the test server.
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "TF_") || strings.HasPrefix(kv, "CHECKPOINT_") {
			continue
		}
		env = append(env, kv)
	}
	x := &tf{t: t, dir: work, log: filepath.Join(base, "terraform.log")}
	if p := os.Getenv("OPENAMI_TF_LOG"); p != "" {
		// Keep the log after the test, for debugging.
		x.log = p
	}
	x.env = append(env,
		"TF_CLI_CONFIG_FILE="+cliConfig,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"TF_DATA_DIR="+filepath.Join(base, "data"),
		"CHECKPOINT_DISABLE=1",
		// The provider's debug log carries every request and response.
		"TF_LOG_PROVIDER=DEBUG",
		"TF_LOG_PATH="+x.log,
		// No real AWS shared config or credentials files.
		"AWS_CONFIG_FILE="+filepath.Join(base, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(base, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	)
	return x
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs terraform with args and returns its exit code and output; it
// fails the test on a timeout or a failure to start.
func (x *tf) run(args ...string) (int, string) {
	x.t.Helper()
	timeout := tfCommandTimeout
	if x.timeout > 0 {
		timeout = x.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "terraform", args...)
	cmd.Dir = x.dir
	cmd.Env = x.env
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	started := time.Now()
	err := cmd.Run()
	x.t.Logf("terraform %s: %v", strings.Join(args, " "), time.Since(started).Round(time.Millisecond))
	if ctx.Err() != nil {
		x.t.Fatalf("terraform %s timed out after %v:\n%s%s", strings.Join(args, " "), timeout, out.String(), x.requests())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		x.t.Fatalf("terraform %s: %v", strings.Join(args, " "), err)
	}
	return 0, out.String()
}

// must runs terraform with args and fails the test unless it succeeds.
func (x *tf) must(args ...string) string {
	x.t.Helper()
	code, out := x.run(args...)
	if code != 0 {
		x.t.Fatalf("terraform %s exited %d:\n%s%s", strings.Join(args, " "), code, out, x.requests())
	}
	return out
}

// requests returns the tail of the provider's log of HTTP exchanges with
// the server (request bodies such as Action=...&..., and response bodies),
// to show what it sent and what it got back.
func (x *tf) requests() string {
	data, err := os.ReadFile(x.log)
	if err != nil {
		return ""
	}
	var keep []string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "  | "):
			if strings.HasPrefix(line, "  | <?xml") {
				continue
			}
			if len(line) > 600 {
				line = line[:600] + "…"
			}
			keep = append(keep, line)
		case strings.Contains(line, "[ERROR]"):
			keep = append(keep, line)
		}
	}
	if len(keep) > 40 {
		keep = keep[len(keep)-40:]
	}
	return "\n--- last provider HTTP exchanges (full log " + x.log + ", set OPENAMI_TF_LOG to keep it) ---\n" + strings.Join(keep, "\n")
}

// vars writes terraform.tfvars.json in the working directory.
func (x *tf) vars(v map[string]any) {
	x.t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		x.t.Fatal(err)
	}
	writeFile(x.t, filepath.Join(x.dir, "terraform.tfvars.json"), string(data))
}

// outputs returns `terraform output -json` as name -> value.
func (x *tf) outputs() map[string]any {
	x.t.Helper()
	code, out := x.run("output", "-json", "-no-color")
	if code != 0 {
		x.t.Fatalf("terraform output exited %d:\n%s", code, out)
	}
	var raw map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		x.t.Fatalf("terraform output -json printed %q: %v", out, err)
	}
	m := map[string]any{}
	for k, v := range raw {
		m[k] = v.Value
	}
	return m
}

func str(t *testing.T, outs map[string]any, name string) string {
	t.Helper()
	s, ok := outs[name].(string)
	if !ok {
		t.Fatalf("output %s is %#v, want a string", name, outs[name])
	}
	return s
}

func strMap(t *testing.T, outs map[string]any, name string) map[string]string {
	t.Helper()
	raw, ok := outs[name].(map[string]any)
	if !ok {
		t.Fatalf("output %s is %#v, want a map", name, outs[name])
	}
	m := map[string]string{}
	for k, v := range raw {
		m[k], _ = v.(string)
	}
	return m
}

func strList(t *testing.T, outs map[string]any, name string) []string {
	t.Helper()
	raw, ok := outs[name].([]any)
	if !ok {
		t.Fatalf("output %s is %#v, want a list", name, outs[name])
	}
	var l []string
	for _, v := range raw {
		s, _ := v.(string)
		l = append(l, s)
	}
	return l
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, tag := range tags {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

// TestTerraformKeyPair applies a configuration of key pairs and data
// sources with real Terraform and the real AWS provider against openami,
// checks what terraform recorded against what openami reports, checks the
// plan shows no drift, updates tags in place, and destroys everything.
func TestTerraformKeyPair(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")

	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "keypair", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))

	// The keys terraform imports, and the fingerprints AWS gives them:
	// SHA-256 of the key blob for ed25519, MD5 of the DER public key for RSA.
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edSSH, err := ssh.NewPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}
	edLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(edSSH))) + " tf@openami"
	edFP := strings.TrimPrefix(ssh.FingerprintSHA256(edSSH), "SHA256:")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSSH, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rsaSSH)))
	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(der)
	var hexes []string
	for _, b := range sum {
		hexes = append(hexes, hex.EncodeToString([]byte{b}))
	}
	rsaFP := strings.Join(hexes, ":")

	edTags := map[string]string{"team": "infra", "env": "test"}
	vars := map[string]any{
		"endpoint":           s.URL,
		"access_key":         s.admin.AccessKeyID,
		"secret_key":         s.admin.SecretAccessKey,
		"ed25519_public_key": edLine,
		"rsa_public_key":     rsaLine,
		"ed25519_tags":       edTags,
	}
	x.vars(vars)

	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()

	// What openami reports.
	described, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{IncludePublicKey: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]types.KeyPairInfo{}
	for _, k := range described.KeyPairs {
		byName[aws.ToString(k.KeyName)] = k
	}
	if len(byName) != 2 {
		t.Fatalf("openami has key pairs %v, want tf-ed25519 and tf-rsa", slices.Sorted(func(yield func(string) bool) {
			for k := range byName {
				if !yield(k) {
					return
				}
			}
		}))
	}
	ed, okEd := byName["tf-ed25519"]
	rs, okRSA := byName["tf-rsa"]
	if !okEd || !okRSA {
		t.Fatalf("openami has key pairs %+v, want tf-ed25519 and tf-rsa", described.KeyPairs)
	}

	// Ids and fingerprints: terraform's state, openami, and the expected values agree.
	for _, tc := range []struct {
		what, got, want string
	}{
		{"ed25519_id", str(t, outs, "ed25519_id"), aws.ToString(ed.KeyPairId)},
		{"rsa_id", str(t, outs, "rsa_id"), aws.ToString(rs.KeyPairId)},
		{"data_key_pair_id", str(t, outs, "data_key_pair_id"), aws.ToString(ed.KeyPairId)},
		{"ed25519_fingerprint", str(t, outs, "ed25519_fingerprint"), aws.ToString(ed.KeyFingerprint)},
		{"rsa_fingerprint", str(t, outs, "rsa_fingerprint"), aws.ToString(rs.KeyFingerprint)},
		{"data_fingerprint", str(t, outs, "data_fingerprint"), aws.ToString(ed.KeyFingerprint)},
		{"openami rsa fingerprint", aws.ToString(rs.KeyFingerprint), rsaFP},
		{"ed25519_key_type", str(t, outs, "ed25519_key_type"), "ed25519"},
		{"rsa_key_type", str(t, outs, "rsa_key_type"), "rsa"},
		{"data_key_type", str(t, outs, "data_key_type"), "ed25519"},
		{"region", str(t, outs, "region"), "us-east-1"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if !strings.HasPrefix(aws.ToString(ed.KeyPairId), "key-") {
		t.Errorf("key pair id %q", aws.ToString(ed.KeyPairId))
	}
	if fp := aws.ToString(ed.KeyFingerprint); strings.TrimRight(fp, "=") != edFP {
		t.Errorf("openami ed25519 fingerprint %q, want %s(=)", fp, edFP)
	}
	if got, want := str(t, outs, "data_create_time"), aws.ToTime(ed.CreateTime).UTC().Format(time.RFC3339); got != want {
		t.Errorf("data_create_time = %q, want %q", got, want)
	}
	// The data source's public key is the imported one.
	if got := str(t, outs, "data_public_key"); !strings.HasPrefix(got, strings.TrimSuffix(edLine, " tf@openami")) {
		t.Errorf("data_public_key = %q, want %q", got, edLine)
	}

	// Tags: in terraform's state, in the data source, and in openami.
	if got := strMap(t, outs, "ed25519_tags"); !equalMaps(got, edTags) {
		t.Errorf("ed25519_tags = %v, want %v", got, edTags)
	}
	if got := strMap(t, outs, "data_tags"); !equalMaps(got, edTags) {
		t.Errorf("data_tags = %v, want %v", got, edTags)
	}
	if got := tagMap(ed.Tags); !equalMaps(got, edTags) {
		t.Errorf("openami tags of tf-ed25519 = %v, want %v", got, edTags)
	}
	if got := tagMap(rs.Tags); !equalMaps(got, map[string]string{"Name": "tf-rsa"}) {
		t.Errorf("openami tags of tf-rsa = %v, want Name=tf-rsa", got)
	}

	// Availability zones: the ones openami lists as available in us-east-1.
	azs, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var wantAZs, wantZoneIDs []string
	for _, az := range azs.AvailabilityZones {
		if az.State == types.AvailabilityZoneStateAvailable {
			wantAZs = append(wantAZs, aws.ToString(az.ZoneName))
			wantZoneIDs = append(wantZoneIDs, aws.ToString(az.ZoneId))
		}
	}
	if got := strList(t, outs, "az_names"); len(got) == 0 || !slices.Equal(got, wantAZs) {
		t.Errorf("az_names = %v, want %v", got, wantAZs)
	}
	if got := strList(t, outs, "az_zone_ids"); !slices.Equal(got, wantZoneIDs) {
		t.Errorf("az_zone_ids = %v, want %v", got, wantZoneIDs)
	}
	if t.Failed() {
		t.FailNow()
	}

	// No drift: a fresh plan refreshes everything and finds nothing to do.
	x.noDrift()

	// Tags change in place (CreateTags/DeleteTags), the key pair is kept.
	edTags = map[string]string{"team": "platform", "owner": "ops"}
	vars["ed25519_tags"] = edTags
	x.vars(vars)
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	after, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"tf-ed25519"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(after.KeyPairs[0].KeyPairId); got != aws.ToString(ed.KeyPairId) {
		t.Errorf("changing tags replaced the key pair: %s, was %s", got, aws.ToString(ed.KeyPairId))
	}
	if got := tagMap(after.KeyPairs[0].Tags); !equalMaps(got, edTags) {
		t.Errorf("openami tags after the update = %v, want %v", got, edTags)
	}
	// The data source was read again after the update (it depends on the
	// key pair), so it shows the new tags too. A second plan would cost
	// another ~10 s of provider start-ups for little more.
	if got := strMap(t, x.outputs(), "data_tags"); !equalMaps(got, edTags) {
		t.Errorf("data_tags after the update = %v, want %v", got, edTags)
	}

	// Destroy: the key pairs and their tags are gone.
	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	left, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.KeyPairs) != 0 {
		t.Errorf("key pairs left after destroy: %+v", left.KeyPairs)
	}
	tags, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 0 {
		t.Errorf("tags left after destroy: %+v", tags.Tags)
	}
}

// noDrift runs `terraform plan -detailed-exitcode` and fails unless it
// exits 0 (no changes).
func (x *tf) noDrift() {
	x.t.Helper()
	code, out := x.run("plan", "-detailed-exitcode", "-input=false", "-no-color")
	switch code {
	case 0:
	case 2:
		x.t.Fatalf("terraform plan found drift after apply:\n%s", out)
	default:
		x.t.Fatalf("terraform plan exited %d:\n%s%s", code, out, x.requests())
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

package openami_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// This file is the source of truth for which package of openami may
// import which (docs/ARCHITECTURE.md draws the same picture). Dependencies
// point inward: storage, runtime and wire packages depend on the
// vocabulary, never the reverse, and only cmd/openami wires concrete back
// ends together. Only the imports of non-test files count: a test may
// reach wherever it needs to.

// module is the module's path; patterns below are relative to it.
const module = "github.com/openami/openami"

// places puts every package of the module in a layer, by pattern: "."
// is the module's root package, "dir" is that one package, "dir/..." is
// dir and every package below it. The first pattern that matches wins,
// so a special case comes before its folder's catch-all.
var places = []struct{ pattern, layer string }{
	{".", "vocabulary"},
	{"internal/testenv", "test kit"},
	{"internal/...", "helpers"},
	{"blob/blobtest", "test kit"},
	{"blob/...", "blob"},
	{"blockstore", "blockstore"},
	{"bundle", "bundle"},
	{"localdisk", "localdisk"},
	{"metadata/storetest", "test kit"},
	{"metadata/sqldb/sqldbtest", "test kit"},
	{"metadata/...", "metadata"},
	{"nbd", "nbd"},
	{"runtime/vnet", "guest network"},
	{"runtime/bridge", "guest network"},
	{"runtime/dhcp", "guest network"},
	{"runtime/...", "runtime"},
	{"rules/rulestest", "rules kit"},
	{"rules/...", "rules"},
	{"service", "service"},
	{"api", "entry"},
	{"api/...", "api"},
	{"cmd/...", "cmd"},
	{"bench", "tests"},
	{"test/cluster", "test kit"}, // starts real serve binaries; its own tests and bench/ use it
	{"test/...", "tests"},
}

// rules says, for each layer, which layers its packages may import and
// why. Nothing may import cmd, only the test kit and the tests may
// import the test kit, and no package but a _test file's may import a
// layer of testOnly.
var rules = map[string]struct {
	mayImport []string
	why       string
}{
	"vocabulary": {nil,
		"the vocabulary (package openami) imports nothing of the project; everything imports it"},
	"helpers": {[]string{"vocabulary", "helpers"},
		"internal helpers are not a layer: they know the vocabulary and each other"},
	"blob": {[]string{"vocabulary", "helpers", "blob"},
		"blob stores store bytes under keys and know nothing above them"},
	"blockstore": {[]string{"vocabulary", "helpers", "blob"},
		"the block store shapes bytes over a blob store and keeps them alive while referenced; it knows no metadata store (what it needs of records it declares: NodeStore, Records, Ledger), rules, wire or runtime"},
	"bundle": {nil,
		"the AMI tools' bundle format (manifests, parts, their keys and signatures) knows nothing of the project: rules/images and rules/instances read bundles through it, cmd/openami makes them"},
	"localdisk": {nil,
		"local disks own their files under the data directory and know nothing of the project; rules/instances decides which instance has which"},
	"metadata": {[]string{"vocabulary", "helpers", "metadata"},
		"metadata stores keep records; they know no bytes, rules, wire or runtime"},
	"nbd": {nil,
		"the NBD server speaks a protocol over an Export; cmd joins it to the service with a closure"},
	"guest network": {[]string{"vocabulary", "guest network"},
		"a guest network (runtime/vnet, rootless: one guest over one socket; runtime/bridge, as root: the host's bridges, taps and nftables) serves guests from their openami.InstanceNetwork and the IMDS http.Handler it is handed, answering DHCP with runtime/dhcp; it knows nothing else of the project"},
	"runtime": {[]string{"vocabulary", "helpers", "guest network"},
		"a runtime implements openami.Runtime and is handed what it needs of the service as functions"},
	"rules": {[]string{"vocabulary", "helpers", "metadata", "blockstore", "blob", "localdisk", "bundle", "rules"},
		"a subsystem's rules (rules/identity, rules/network, rules/kms, rules/ebs, rules/images, rules/templates, rules/instances, rules/autoscaling) know its records through the metadata store, its bytes through the block store (rules/ebs) and instance-store disks through localdisk (rules/instances), and a runtime only as openami.Runtime; never a wire name, the service that composes them, a runtime package or the NBD server; one subsystem imports another only if it stands below it in subsystems"},
	"service": {[]string{"vocabulary", "helpers", "metadata", "blob", "localdisk", "rules"},
		"the service composes the subsystems' rules, runs the background worker and keeps tags; it knows its stores (the block store only through rules/ebs; it opens the local disks rules/instances is given), never a wire name, a runtime or the NBD server"},
	"entry": {[]string{"vocabulary", "helpers", "rules", "service", "api"},
		"the endpoint (package api) authenticates, routes and hands each protocol what it consumes of the service and its subsystems; it never touches a store or a runtime"},
	"api": {[]string{"vocabulary", "helpers", "rules", "api"},
		"a protocol decodes, calls the rules or the service's tags through interfaces it declares, and encodes; it never holds the service, a store or a runtime"},
	"cmd": {[]string{"vocabulary", "helpers", "blob", "bundle", "metadata", "nbd", "guest network", "runtime", "rules", "service", "entry", "api"},
		"only cmd/openami wires concrete back ends together"},
	"test kit": {[]string{"vocabulary", "helpers", "blob", "metadata", "test kit"},
		"conformance suites and throwaway servers, for tests only"},
	"rules kit": {[]string{"vocabulary", "helpers", "metadata", "blob", "bundle", "rules"},
		"the stores, clock and fakes (and test bundles) the rules packages' and the service's tests build their fixtures over; only _test files import it, and a rules package's own tests do, so it imports no subsystem above the lowest whose tests use it (rules/identity)"},
	"tests": {[]string{"vocabulary", "helpers", "blob", "blockstore", "bundle", "localdisk", "metadata", "nbd", "guest network", "runtime", "rules", "service", "entry", "api", "test kit"},
		"end-to-end tests and benchmarks drive the whole system"},
}

// testOnly are the layers only _test files may import: no rule lists
// them, so that an import of one from a package's own files fails.
var testOnly = []string{"rules kit"}

// subsystems orders the packages of the rules layer from the bottom up:
// one may import only those before it, so that no two subsystems import
// each other and the order of the rules layer is written here once
// (docs/ARCHITECTURE.md draws it). Every package of rules/... is listed.
var subsystems = []string{
	"rules/param",       // parameter checks every subsystem makes alike (no rule of its own)
	"rules/describe",    // the Describe skeleton: pages, tokens' scopes, missing ids (no rule of its own)
	"rules/identity",    // accounts, access keys, key pairs, regions: everyone asks who and where
	"rules/objects",     // buckets, objects, multipart uploads, ACLs and bucket policies (S3)
	"rules/network",     // VPCs, subnets, security groups and the firewalls they make
	"rules/kms",         // keys, grants and the cryptographic operations
	"rules/ebs",         // snapshots, volumes, their encryption (through kms) and block I/O
	"rules/images",      // images, Allowed AMIs and the Recycle Bin, over EBS's snapshots
	"rules/exports",     // ExportImage, store and restore tasks: images to and from buckets (objects), over images and EBS
	"rules/parameters",  // SSM parameters; aws:ec2:image values are images'
	"rules/imports",     // ImportImage and ImportSnapshot tasks: objects in, snapshots and an image out
	"rules/templates",   // launch templates: the parameters of launches, checked when a launch uses them
	"rules/instances",   // instances, their runtime jobs and CreateImage, over images, EBS and the network
	"rules/autoscaling", // Auto Scaling groups and their controller, launching and terminating through instances
}

// placeOf returns the layer of a package path of the module and the
// index of the pattern in places that put it there, or "" and -1.
func placeOf(pkg string) (string, int) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	if rel == "" {
		rel = "."
	}
	for i, p := range places {
		if dir, ok := strings.CutSuffix(p.pattern, "/..."); ok {
			if rel == dir || strings.HasPrefix(rel, dir+"/") {
				return p.layer, i
			}
		} else if rel == p.pattern {
			return p.layer, i
		}
	}
	return "", -1
}

// subsystem returns the index in subsystems of a package path of the
// module, or -1.
func subsystem(pkg string) int {
	return slices.Index(subsystems, strings.TrimPrefix(pkg, module+"/"))
}

// TestLayers fails on every import of one of the module's packages that
// points the wrong way, and on every package that no rule places.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"/...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	used := map[string]bool{}   // layers with a package
	matched := map[int]bool{}   // patterns of places that placed one
	listed := map[string]bool{} // packages of the module
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg, imports := fields[0], fields[1:]
		layer, i := placeOf(pkg)
		if layer == "" {
			t.Errorf("%s has no layer: place it in layers_test.go (places) and docs/ARCHITECTURE.md", pkg)
			continue
		}
		used[layer], matched[i] = true, true
		if layer == "rules" && subsystem(pkg) < 0 {
			t.Errorf("%s has no place in subsystems: place it in layers_test.go and docs/ARCHITECTURE.md", pkg)
		}
		listed[pkg] = true
		rule := rules[layer]
		for _, imp := range imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to, _ := placeOf(imp)
			if !slices.Contains(rule.mayImport, to) {
				t.Errorf("%s (%s) imports %s (%s): %s may import only %v: %s", pkg, layer, imp, to, layer, rule.mayImport, rule.why)
			}
			if layer == "rules kit" && to == "rules" && subsystem(imp) > subsystem(module+"/rules/identity") {
				t.Errorf("%s imports %s, which stands above rules/identity: %s", pkg, imp, rule.why)
			}
			if layer == "rules" && to == "rules" && subsystem(imp) >= subsystem(pkg) {
				t.Errorf("%s imports %s, which does not stand below it in subsystems: %s", pkg, imp, rule.why)
			}
		}
	}
	// The table itself: every layer has a rule, every rule names layers
	// that exist, and no pattern or rule is left over.
	for i, p := range places {
		if _, ok := rules[p.layer]; !ok {
			t.Errorf("layer %q (of %s) has no rule", p.layer, p.pattern)
		}
		if !matched[i] {
			t.Errorf("pattern %s places no package: remove it", p.pattern)
		}
	}
	for _, sub := range subsystems {
		if !listed[module+"/"+sub] {
			t.Errorf("subsystem %s is no package: remove it", sub)
		}
	}
	for layer, rule := range rules {
		if !used[layer] {
			t.Errorf("layer %q has a rule but no package", layer)
		}
		for _, to := range rule.mayImport {
			if _, ok := rules[to]; !ok {
				t.Errorf("layer %q may import %q, which is no layer", layer, to)
			}
			if slices.Contains(testOnly, to) {
				t.Errorf("layer %q may import %q, which only _test files may import", layer, to)
			}
		}
	}
}

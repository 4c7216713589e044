package cluster

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// examplesDir is examples/cluster in the repository.
func examplesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "cluster")
}

// readEnvFile returns the KEY=VALUE lines of an environment file.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		out[k] = v
	}
	return out
}

// TestExampleUnit starts two nodes as examples/cluster's systemd unit
// does — its ExecStart, with the shared cluster.env and a node's
// node.env, their values pointed at this test's PostgreSQL, MinIO and
// master key — and checks that a key pair made through one is seen
// through the other. It also checks that every variable the examples set
// (the unit, the env files, compose.yaml) is one `openami serve` reads,
// so that a misspelt name cannot sit there unnoticed.
func TestExampleUnit(t *testing.T) {
	dir := examplesDir()
	unit, err := os.ReadFile(filepath.Join(dir, "openami@.service"))
	if err != nil {
		t.Fatal(err)
	}
	var execStart []string
	unitEnv := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			k, val, _ := strings.Cut(v, "=")
			unitEnv[k] = val
		}
	}
	if len(execStart) != 2 || filepath.Base(execStart[0]) != "openami" || execStart[1] != "serve" {
		t.Fatalf("ExecStart %q: the test knows how to run `openami serve` only", execStart)
	}
	shared := readEnvFile(t, filepath.Join(dir, "cluster.env"))
	node := readEnvFile(t, filepath.Join(dir, "node.env"))
	compose, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// Every variable named is one serve documents in its --help.
	c := Start(t, Options{Nodes: 1})
	help, err := exec.Command(c.bin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"OPENAMI_MASTER_KEY": true, "OPENAMI_S3_ACCESS_KEY_ID": true, "OPENAMI_S3_SECRET_ACCESS_KEY": true}
	for _, m := range regexp.MustCompile(`env (OPENAMI_[A-Z0-9_]+)`).FindAllStringSubmatch(string(help), -1) {
		known[m[1]] = true
	}
	var named []string
	for _, m := range []map[string]string{shared, node, unitEnv} {
		for k := range m {
			named = append(named, k)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+(OPENAMI_[A-Z0-9_]+):`).FindAllStringSubmatch(string(compose), -1) {
		named = append(named, m[1])
	}
	slices.Sort(named)
	for _, k := range slices.Compact(named) {
		if !known[k] {
			t.Errorf("the examples set %s, which openami serve does not read", k)
		}
	}

	// Two nodes as the unit starts them, the values pointed at this test's
	// components.
	values := map[string]string{
		"OPENAMI_DATABASE":   c.DSN,
		"OPENAMI_BLOB_STORE": "s3://" + c.MinIO.Bucket + "/openami", "OPENAMI_S3_ENDPOINT": c.MinIO.Endpoint,
		"OPENAMI_S3_REGION": c.MinIO.Region, "OPENAMI_S3_ACCESS_KEY_ID": c.MinIO.AccessKeyID,
		"OPENAMI_S3_SECRET_ACCESS_KEY": c.MinIO.SecretAccessKey, "OPENAMI_MASTER_KEY": c.MasterKey,
		"OPENAMI_REGIONS": c.Regions,
	}
	var nodes []*Node
	for range 2 {
		env := []string{"OPENAMI_DATA_DIR=" + t.TempDir()} // the unit's StateDirectory
		for _, m := range []map[string]string{shared, node, unitEnv} {
			for k, v := range m {
				if k == "OPENAMI_DATA_DIR" || k == "OPENAMI_LISTEN" {
					continue // a directory and a port of the test's
				}
				if tv, ok := values[k]; ok {
					v = tv
				}
				env = append(env, k+"="+v)
			}
		}
		nodes = append(nodes, c.AddNodeFromEnv(t, env))
	}
	ctx := context.Background()
	alice := c.Account(t, "alice")
	if _, err := nodes[0].EC2(alice).CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("unit")}); err != nil {
		t.Fatal(err)
	}
	out, err := nodes[1].EC2(alice).DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"unit"}})
	if err != nil || len(out.KeyPairs) != 1 {
		t.Fatalf("a key pair made on one unit's node, described on the other: %v %+v", err, out)
	}
	if !strings.Contains(nodes[0].Log.String(), `"msg":"request"`) {
		t.Errorf("the unit's node did not log JSON as cluster.env asks:\n%s", nodes[0].Log)
	}
}

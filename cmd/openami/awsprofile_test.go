package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openami/openami/rules/identity"
)

// TestAccountProfile: account create --profile adds a profile beside the
// administrator's in both files; serve's rewrite of the config keeps it
// and points it at the new endpoint; iniKeys reads them back.
func TestAccountProfile(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	dir := t.TempDir()
	creds, conf := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")
	if err := writeCredentials(creds, identity.Credentials{AccessKeyID: "AKADMIN", SecretAccessKey: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := writeAWSConfig(conf, "us-west-2", "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := writeAccountProfile(dir, "dev", identity.Credentials{AccessKeyID: "AKDEV", SecretAccessKey: "s2"}); err != nil {
		t.Fatal(err)
	}
	if err := writeAccountProfile(dir, "openami", identity.Credentials{}); err == nil {
		t.Error("--profile openami was taken")
	}
	if err := writeAWSConfig(conf, "us-west-2", "http://127.0.0.1:2"); err != nil {
		t.Fatal(err)
	}
	if got := iniKeys(creds, "openami")["aws_access_key_id"]; got != "AKADMIN" {
		t.Errorf("admin key %q", got)
	}
	if got := iniKeys(creds, "dev"); got["aws_access_key_id"] != "AKDEV" || got["aws_secret_access_key"] != "s2" {
		t.Errorf("dev credentials %v", got)
	}
	for _, p := range []string{"profile openami", "profile dev"} {
		if got := iniKeys(conf, p); got["endpoint_url"] != "http://127.0.0.1:2" || got["region"] != "us-west-2" {
			t.Errorf("%s: %v", p, got)
		}
	}
	b, _ := os.ReadFile(conf)
	if strings.Count(string(b), "addressing_style = path") != 2 {
		t.Errorf("config:\n%s", b)
	}
	p, err := loadProfile(dir, "dev", "", "")
	if err != nil || p.accessKey != "AKDEV" || p.endpoint != "http://127.0.0.1:2" || p.region != "us-west-2" {
		t.Errorf("loadProfile: %+v, %v", p, err)
	}
}

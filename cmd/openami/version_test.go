package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want []string
	}{
		{"no build info", nil, false, []string{"no build information"}},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/openami/openami", Version: "(devel)"}},
			true, []string{"openami (devel)", "commit unknown", "go run", "go1.26.0"}},
		{"tagged", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-06T20:00:00Z"},
			{Key: "vcs.modified", Value: "false"},
		}}, true, []string{"openami v1.2.3", "commit 0123456789abcdef0123456789abcdef01234567 (2026-12-06T20:00:00Z)"}},
		{"dirty checkout", &debug.BuildInfo{Main: debug.Module{}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"},
		}}, true, []string{"openami (devel)", "commit abc with uncommitted changes"}},
	}
	for _, tt := range tests {
		got := versionString(tt.info, tt.ok)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: versionString = %q, want it to contain %q", tt.name, got, w)
			}
		}
	}
	if got := versionString(&debug.BuildInfo{Main: debug.Module{Version: "v1"}}, true); strings.Contains(got, "uncommitted") {
		t.Errorf("clean build said %q", got)
	}
}

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/openami/openami/rules/identity"

	"github.com/openami/openami/internal/atomicfile"
)

// The data dir's aws CLI files (credentials and config): `openami serve`
// writes profile openami (the administrator), `openami account create
// --profile P` adds profile P for the new account, so that a second user
// is one `--profile P` away. Every profile of the config file is this
// server's: serve points each at its endpoint on every start.

// iniSection is one [name] of an INI file and its lines.
type iniSection struct {
	name  string
	lines []string
}

// readINI reads an INI file into its sections, in order (none if the
// file does not exist); lines before the first section are dropped.
func readINI(path string) ([]iniSection, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []iniSection
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			out = append(out, iniSection{name: strings.TrimSpace(t[1 : len(t)-1])})
			continue
		}
		if len(out) > 0 && strings.TrimSpace(line) != "" {
			out[len(out)-1].lines = append(out[len(out)-1].lines, line)
		}
	}
	return out, sc.Err()
}

// writeINI writes sections to path, owner-only, atomically.
func writeINI(path string, sections []iniSection) error {
	var b strings.Builder
	for i, s := range sections {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("[" + s.name + "]\n")
		for _, l := range s.lines {
			b.WriteString(l + "\n")
		}
	}
	return atomicfile.Write(path, []byte(b.String()), 0o600)
}

// setINISection replaces the section name of the file at path with lines,
// or appends it, keeping the others; edit, if not nil, may change the
// others first.
func setINISection(path, name string, lines []string, edit func(*iniSection)) error {
	sections, err := readINI(path)
	if err != nil {
		return err
	}
	found := false
	for i := range sections {
		if sections[i].name == name {
			sections[i].lines, found = lines, true
		} else if edit != nil {
			edit(&sections[i])
		}
	}
	if !found {
		sections = append(sections, iniSection{name: name, lines: lines})
	}
	return writeINI(path, sections)
}

// profileConfig is a config-file profile's lines for this server.
func profileConfig(region, endpoint string) []string {
	return []string{"region = " + region, "endpoint_url = " + endpoint, "s3 =", "    addressing_style = path"}
}

// pointAt sets a config profile's endpoint_url to endpoint.
func pointAt(endpoint string) func(*iniSection) {
	return func(s *iniSection) {
		if !strings.HasPrefix(s.name, "profile ") {
			return
		}
		for i, l := range s.lines {
			if k, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "endpoint_url" {
				s.lines[i] = "endpoint_url = " + endpoint
			}
		}
	}
}

// iniKeys returns the keys of one [section] of an INI file (none if the
// file or the section is missing).
func iniKeys(path, section string) map[string]string {
	out := map[string]string{}
	sections, _ := readINI(path)
	for _, s := range sections {
		if s.name != section {
			continue
		}
		for _, l := range s.lines {
			if k, v, ok := strings.Cut(l, "="); ok {
				out[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// writeAccountProfile writes an account's credentials as profile P of the
// data dir's credentials file and, in its config file, profile P pointing
// where profile openami points (the running server's endpoint and first
// region; serve keeps them current).
func writeAccountProfile(dataDir, profile string, c identity.Credentials) error {
	if profile == "openami" {
		return fmt.Errorf("--profile openami is the administrator's: pick another name")
	}
	if err := writeProfileCredentials(filepath.Join(dataDir, "credentials"), profile, c); err != nil {
		return err
	}
	conf := filepath.Join(dataDir, "config")
	admin := iniKeys(conf, "profile openami")
	region := admin["region"]
	if region == "" {
		region = "us-east-1"
	}
	return setINISection(conf, "profile "+profile, profileConfig(region, admin["endpoint_url"]), nil)
}

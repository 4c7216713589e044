package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionCommand is `openami version`: which build this binary is.
func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit this binary was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, ok := debug.ReadBuildInfo()
			fmt.Fprintln(cmd.OutOrStdout(), versionString(info, ok))
			return nil
		},
	}
}

// versionString describes a build from its build information: the main
// module's version (a tag for `go install ...@vX`, "(devel)" for a build
// in a checkout) and the commit the go command stamped from version
// control (vcs.revision, vcs.time, vcs.modified). `go run`, `go test` and
// builds outside a repository carry no commit, which it says.
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "openami: no build information (a binary built without module support)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "openami %s", version)
	if rev == "" {
		b.WriteString(", commit unknown (built without version control information, as by go run)")
	} else {
		fmt.Fprintf(&b, ", commit %s", rev)
		if modified {
			b.WriteString(" with uncommitted changes")
		}
		if at != "" {
			fmt.Fprintf(&b, " (%s)", at)
		}
	}
	fmt.Fprintf(&b, ", %s", info.GoVersion)
	return b.String()
}

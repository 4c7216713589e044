// Command openami is the openami server and its administration tool.
//
//	openami serve                  run the server (SQLite under the data dir by default)
//	openami account create --name N  create an account and print its credentials as JSON
//	openami account list|enable|disable|delete
//	openami account key create|list|delete
//	openami gc                     free unreferenced chunks and block-map nodes
//	openami fsck                   check block maps against stored chunks
//	openami image alias|product-code  operator changes to images
//	openami version                print the version and commit of this binary
//
// This is the only package that wires concrete back ends together: it
// picks the metadata store, loads the master key, builds the service and
// hands it to the API server.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// Everything openami and the QEMU processes it starts write is its
	// user's alone. Each file is also created with an owner-only mode; the
	// umask catches what a library creates with its own (SQLite's -wal and
	// -shm, QEMU's files).
	syscall.Umask(0o077)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "openami",
		Short:         "openami: the Amazon Machine Image system on your own hardware",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cfg config
	cfg.addFlags(root)
	root.AddCommand(serveCommand(&cfg), accountCommand(&cfg), gcCommand(&cfg), fsckCommand(&cfg), imageCommand(&cfg), parameterCommand(&cfg), masterKeyCommand(&cfg), regionCommand(&cfg), hostCommand(&cfg), bundleCommand(&cfg), versionCommand())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "openami:", err)
		os.Exit(1)
	}
}

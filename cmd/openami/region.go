package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"
)

// regionCommand is `openami region cert REGION`: print a region's EC2
// certificate (cert-ec2.pem) in PEM, making the region's key if it has
// none yet. Like the account commands it works beside a running server on
// the same data dir or database; the endpoint serves the same certificate
// at GET /cert-ec2.pem?region=REGION (docs/IAM.md).
func regionCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "region", Short: "The regions' EC2 certificates"}
	cmd.AddCommand(&cobra.Command{
		Use:   "cert REGION",
		Short: "Print the region's EC2 certificate (cert-ec2.pem), to which bundles are encrypted",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			_, pemBytes, err := e.svc.Identity().EC2Certificate(ctx, args[0])
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(pemBytes)
			return err
		}),
	})
	return cmd
}

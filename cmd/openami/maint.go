package main

import (
	"context"
	"errors"

	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/service"
	"github.com/spf13/cobra"
)

// errDamaged makes fsck exit non-zero after printing its report.
var errDamaged = errors.New("fsck found damage")

// regionsOf returns the regions a maintenance command works on: the one
// named, or every served one.
func regionsOf(svc *service.Service, only string) []string {
	var out []string
	for _, r := range svc.Identity().Regions() {
		if only == "" || r.Name == only {
			out = append(out, r.Name)
		}
	}
	return out
}

func gcCommand(cfg *config) *cobra.Command {
	var region string
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Free the chunks and block-map nodes no snapshot or volume references (safe while a server runs)",
		Args:  cobra.NoArgs,
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			var results []ebs.GCResult
			for _, r := range regionsOf(e.svc, region) {
				res, err := e.svc.EBS().GC(ctx, r)
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			return printJSON(map[string]any{"Regions": results})
		}),
	}
	cmd.Flags().StringVar(&region, "region", "", "collect only this region")
	return cmd
}

func fsckCommand(cfg *config) *cobra.Command {
	var (
		region string
		quick  bool
	)
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check every block map against the stored chunks; exits 1 on missing or corrupt data",
		Args:  cobra.NoArgs,
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			var reports []ebs.FsckReport
			damaged := false
			for _, r := range regionsOf(e.svc, region) {
				rep, err := e.svc.EBS().Fsck(ctx, r, !quick)
				if err != nil {
					return err
				}
				reports = append(reports, rep)
				damaged = damaged || rep.Damaged()
			}
			if err := printJSON(map[string]any{"Regions": reports}); err != nil {
				return err
			}
			if damaged {
				return errDamaged
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&region, "region", "", "check only this region")
	cmd.Flags().BoolVar(&quick, "quick", false, "skip reading and verifying every chunk's bytes")
	return cmd
}

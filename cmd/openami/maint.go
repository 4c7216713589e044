package main

import (
	"context"
	"errors"
	"time"

	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/objects"
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
	var (
		region       string
		sweepObjects bool
		objectGrace  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Free the chunks and block-map nodes no snapshot or volume references (safe while a server runs), and with --sweep-objects the object blobs no object or part names",
		Args:  cobra.NoArgs,
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			var results []ebs.GCResult
			for _, r := range regionsOf(e.svc, region) {
				res, err := e.svc.CollectGarbage(ctx, r)
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			if !sweepObjects {
				return printJSON(map[string]any{"Regions": results})
			}
			// The server's worker sweeps too, confirming each blob
			// unnamed over two sweeps; this one removes at once.
			swept, err := e.svc.Objects().Sweep(ctx, objectGrace, 0)
			if err != nil {
				return err
			}
			return printJSON(map[string]any{"Regions": results, "Objects": swept})
		}),
	}
	cmd.Flags().StringVar(&region, "region", "", "collect only this region")
	cmd.Flags().BoolVar(&sweepObjects, "sweep-objects", false, "also remove the object blobs no object or upload part names (what a crash left); for a stopped server: a running one's worker sweeps them itself, more carefully")
	cmd.Flags().DurationVar(&objectGrace, "object-grace", objects.SweepGrace, "with --sweep-objects, remove only unnamed object blobs older than this")
	return cmd
}

func fsckCommand(cfg *config) *cobra.Command {
	var (
		region string
		quick  bool
	)
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check every block map against the stored chunks and every object against its blobs; exits 1 on missing or corrupt data",
		Args:  cobra.NoArgs,
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			var (
				reports []ebs.FsckReport
				objs    []objects.CheckReport
			)
			damaged := false
			for _, r := range regionsOf(e.svc, region) {
				rep, err := e.svc.EBS().Fsck(ctx, r, !quick)
				if err != nil {
					return err
				}
				reports = append(reports, rep)
				damaged = damaged || rep.Damaged()
				orep, err := e.svc.Objects().Check(ctx, r, !quick)
				if err != nil {
					return err
				}
				objs = append(objs, orep)
				damaged = damaged || orep.Damaged()
			}
			if err := printJSON(map[string]any{"Regions": reports, "Objects": objs}); err != nil {
				return err
			}
			if damaged {
				return errDamaged
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&region, "region", "", "check only this region")
	cmd.Flags().BoolVar(&quick, "quick", false, "skip reading and verifying every chunk's and object blob's bytes")
	return cmd
}

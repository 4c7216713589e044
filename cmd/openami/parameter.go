package main

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/parameters"
	"github.com/spf13/cobra"
)

// parameterCommand holds the operator's public SSM parameters: those
// under /aws/service/ and /openami/service/ that every account reads
// (docs/SSM.md), as `openami image alias` publishes images.
func parameterCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "parameter", Short: "Operator changes to public SSM parameters (/aws/service/..., /openami/service/...)"}
	var region string
	cmd.PersistentFlags().StringVar(&region, "region", "us-east-1", "the parameter's region")

	var typ, dataType, description string
	publish := &cobra.Command{
		Use:   "publish NAME VALUE",
		Short: "Publish a new version of a public parameter (--data-type aws:ec2:image checks the image exists)",
		Args:  cobra.ExactArgs(2),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			in := parameters.PublishInput{Region: region, Name: args[0], Value: args[1], Type: openami.ParameterType(typ), DataType: dataType}
			if description != "" {
				in.Description = &description
			}
			prm, err := e.svc.Parameters().Publish(ctx, in)
			if err != nil {
				return err
			}
			return printJSON(map[string]any{"Name": prm.Name, "Value": prm.Value, "Version": prm.Version, "DataType": prm.DataType, "ARN": prm.ARN()})
		}),
	}
	publish.Flags().StringVar(&typ, "type", "String", "String or StringList")
	publish.Flags().StringVar(&dataType, "data-type", "text", "text or aws:ec2:image")
	publish.Flags().StringVar(&description, "description", "", "the parameter's description (none: the previous version's)")
	unpublish := &cobra.Command{
		Use:   "unpublish NAME",
		Short: "Delete every version of a public parameter",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			return e.svc.Parameters().Unpublish(ctx, region, args[0])
		}),
	}
	cmd.AddCommand(publish, unpublish)
	return cmd
}

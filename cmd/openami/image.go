package main

import (
	"context"

	"github.com/openami/openami"
	"github.com/spf13/cobra"
)

// imageCommand holds the operator's image operations: publishing under an
// owner alias and attaching product codes.
func imageCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Operator changes to images: owner aliases and product codes"}
	var region string
	cmd.PersistentFlags().StringVar(&region, "region", "us-east-1", "the image's region")

	alias := &cobra.Command{
		Use:   "alias IMAGE_ID ALIAS",
		Short: `Publish an image under an owner alias (amazon, aws-marketplace, aws-backup-vault; "" removes it)`,
		Args:  cobra.ExactArgs(2),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			img, err := e.svc.SetImageOwnerAlias(ctx, region, args[0], args[1])
			return printImage(img, err)
		}),
	}
	var kind string
	var remove bool
	code := &cobra.Command{
		Use:   "product-code IMAGE_ID CODE",
		Short: "Attach a product code to an image (--remove detaches it)",
		Args:  cobra.ExactArgs(2),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			img, err := e.svc.SetImageProductCode(ctx, region, args[0], args[1], kind, remove)
			return printImage(img, err)
		}),
	}
	code.Flags().StringVar(&kind, "type", "marketplace", "marketplace or devpay")
	code.Flags().BoolVar(&remove, "remove", false, "detach the code instead")
	cmd.AddCommand(alias, code)
	return cmd
}

func printImage(img openami.Image, err error) error {
	if err != nil {
		return err
	}
	return printJSON(map[string]any{"ImageId": img.ID, "OwnerId": img.AccountID, "ImageOwnerAlias": img.OwnerAlias, "ProductCodes": img.ProductCodes})
}

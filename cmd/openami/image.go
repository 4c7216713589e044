package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/images"
	"github.com/spf13/cobra"
)

// imageCommand holds the operator's image operations: publishing under an
// owner alias and attaching product codes.
func imageCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Import a disk file as an AMI; operator changes to images: owner aliases, product codes, kernel and ramdisk images"}
	var region string
	cmd.PersistentFlags().StringVar(&region, "region", "us-east-1", "the image's region")

	cmd.AddCommand(imageImportCommand(cfg, &region))

	alias := &cobra.Command{
		Use:   "alias IMAGE_ID ALIAS",
		Short: `Publish an image under an owner alias (amazon, aws-marketplace, aws-backup-vault; "" removes it)`,
		Args:  cobra.ExactArgs(2),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			img, err := e.svc.Images().SetImageOwnerAlias(ctx, region, args[0], args[1])
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
			img, err := e.svc.Images().SetImageProductCode(ctx, region, args[0], args[1], kind, remove)
			return printImage(img, err)
		}),
	}
	code.Flags().StringVar(&kind, "type", "marketplace", "marketplace or devpay")
	code.Flags().BoolVar(&remove, "remove", false, "detach the code instead")
	cmd.AddCommand(alias, code, bootImageCommand(cfg, &region, "kernel"), bootImageCommand(cfg, &region, "ramdisk"))
	return cmd
}

// bootImageCommand is `image register-kernel` or `image register-ramdisk`:
// a kernel or ramdisk image from a file, for paravirtual images to name
// (EC2 registers these from S3 bundles, which openami does not take).
func bootImageCommand(cfg *config, region *string, kind string) *cobra.Command {
	var account, name, description, arch string
	cmd := &cobra.Command{
		Use:   "register-" + kind + " FILE",
		Short: "Register a " + kind + " image from a file, for paravirtual images (RegisterImage --" + map[string]string{"kernel": "kernel-id", "ramdisk": "ramdisk-id"}[kind] + ")",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			var acct openami.Account
			if account == "" {
				acct, _, _, err = e.svc.Identity().EnsureAdmin(ctx)
			} else {
				acct, err = e.svc.Identity().ResolveAccount(ctx, account)
			}
			if err != nil {
				return err
			}
			if name == "" {
				name = filepath.Base(args[0])
			}
			id, err := e.svc.Images().RegisterBootImage(ctx, openami.Principal{AccountID: acct.ID, Region: *region}, images.RegisterBootImageInput{
				ImageType: kind, Name: name, Description: description, Architecture: arch, Size: st.Size(), Data: f})
			if err != nil {
				return err
			}
			return printJSON(map[string]any{"ImageId": id, "OwnerId": acct.ID, "ImageType": kind})
		}),
	}
	cmd.Flags().StringVar(&account, "account", "", "owner account, by id or name (default: the administrator)")
	cmd.Flags().StringVar(&name, "name", "", "image name (default: the file's name)")
	cmd.Flags().StringVar(&description, "description", "", "image description")
	cmd.Flags().StringVar(&arch, "architecture", "x86_64", "x86_64 or i386")
	return cmd
}

func printImage(img openami.Image, err error) error {
	if err != nil {
		return err
	}
	return printJSON(map[string]any{"ImageId": img.ID, "OwnerId": img.AccountID, "ImageOwnerAlias": img.OwnerAlias, "ProductCodes": img.ProductCodes})
}

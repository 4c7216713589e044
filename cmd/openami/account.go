package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/openami/openami"
	"github.com/spf13/cobra"
)

// accountCommand manages accounts. Every subcommand prints JSON, and works
// while a server runs on the same data dir or database.
func accountCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage accounts and their access keys"}

	var name, profile string
	create := &cobra.Command{
		Use:   "create --name NAME [--profile P]",
		Short: "Create an account with one access key; prints AccountId, AccessKeyId and SecretAccessKey",
		Args:  cobra.NoArgs,
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			_, c, err := e.svc.Identity().CreateAccount(ctx, name, false)
			if err != nil {
				return err
			}
			if profile != "" {
				if err := writeAccountProfile(cfg.dataDir, profile, c); err != nil {
					return err
				}
			}
			return printJSON(map[string]string{"AccountId": c.AccountID, "AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey})
		}),
	}
	create.Flags().StringVar(&name, "name", "", "account name (required, unique)")
	create.Flags().StringVar(&profile, "profile", "", "also write the account's access key as this aws CLI profile into the data dir's credentials and config files (then: AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/credentials AWS_CONFIG_FILE=DATA_DIR/config aws --profile P ...)")
	create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			accts, err := e.svc.Identity().ListAccounts(ctx)
			if err != nil {
				return err
			}
			out := make([]accountJSON, len(accts))
			for i, a := range accts {
				out[i] = toJSON(a)
			}
			return printJSON(map[string]any{"Accounts": out})
		}),
	}

	status := func(use, short string, st openami.AccountStatus) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ACCOUNT",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
				a, err := e.svc.Identity().SetAccountStatus(ctx, args[0], st)
				if err != nil {
					return err
				}
				return printJSON(toJSON(a))
			}),
		}
	}

	del := &cobra.Command{
		Use:   "delete ACCOUNT",
		Short: "Delete an account (by id or name) with its access keys and everything it owns",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			a, err := e.svc.Identity().DeleteAccount(ctx, args[0])
			if err != nil {
				return err
			}
			return printJSON(map[string]string{"Deleted": a.ID})
		}),
	}

	var org string
	var ous []string
	join := &cobra.Command{
		Use:   "join ACCOUNT --organization ARN [--ou ARN]...",
		Short: "Declare that an account belongs to an organization (and OUs, outermost first); launch permissions granted to them apply to it",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			a, err := e.svc.Identity().JoinOrganization(ctx, args[0], org, ous)
			if err != nil {
				return err
			}
			return printJSON(toJSON(a))
		}),
	}
	join.Flags().StringVar(&org, "organization", "", "organization ARN (empty: leave the organization)")
	join.Flags().StringArrayVar(&ous, "ou", nil, "organizational unit ARN; repeat for nested OUs, outermost first")

	cmd.AddCommand(create, list, join,
		status("enable", "Enable an account (by id or name)", openami.AccountActive),
		status("disable", "Disable an account (by id or name): its keys stop working at once", openami.AccountDisabled),
		del, keyCommand(cfg))
	return cmd
}

func keyCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage an account's access keys"}
	create := &cobra.Command{
		Use:   "create ACCOUNT",
		Short: "Add an access key to an account; prints AccountId, AccessKeyId and SecretAccessKey",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			c, err := e.svc.Identity().CreateAccessKey(ctx, args[0])
			if err != nil {
				return err
			}
			return printJSON(map[string]string{"AccountId": c.AccountID, "AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey})
		}),
	}
	list := &cobra.Command{
		Use:   "list ACCOUNT",
		Short: "List an account's access keys (without secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			keys, err := e.svc.Identity().ListAccessKeys(ctx, args[0])
			if err != nil {
				return err
			}
			type keyJSON struct {
				AccessKeyId string
				AccountId   string
				CreateDate  string
			}
			out := make([]keyJSON, len(keys))
			for i, k := range keys {
				out[i] = keyJSON{k.ID, k.AccountID, k.CreatedAt.Format(time.RFC3339)}
			}
			return printJSON(map[string]any{"AccessKeys": out})
		}),
	}
	del := &cobra.Command{
		Use:   "delete ACCESS_KEY_ID",
		Short: "Delete an access key",
		Args:  cobra.ExactArgs(1),
		RunE: cfg.withEnv(func(ctx context.Context, e *env, args []string) error {
			if err := e.svc.Identity().DeleteAccessKey(ctx, args[0]); err != nil {
				return err
			}
			return printJSON(map[string]string{"Deleted": args[0]})
		}),
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

type accountJSON struct {
	AccountId       string
	Name            string
	Status          string
	Admin           bool
	CreateDate      string
	OrganizationArn string   `json:",omitempty"`
	OUArns          []string `json:",omitempty"`
}

func toJSON(a openami.Account) accountJSON {
	return accountJSON{a.ID, a.Name, string(a.Status), a.Admin, a.CreatedAt.Format(time.RFC3339), a.OrganizationArn, a.OUArns}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

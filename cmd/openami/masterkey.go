package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openami/openami/internal/seal"
	"github.com/spf13/cobra"
)

// masterKeyCommand is `openami master-key rotate`: replace the master key
// and re-seal everything it protects (access-key secrets and KMS key
// material; EBS data keys are wrapped by KMS keys and need nothing).
//
// With the key in DATA_DIR/master.key, the new key is first written to
// DATA_DIR/master.key.new, every secret is re-sealed under it, and only
// then is it renamed over master.key. A run that stops half-way is simply
// run again: it picks up master.key.new and re-seals what is left (each
// secret opens under one key or the other). With OPENAMI_MASTER_KEY set,
// the new key comes from OPENAMI_NEW_MASTER_KEY and nothing is written:
// put the new key in place of the old in the secret manager afterwards.
//
// Stop every server on the database first: a running server holds the
// old key and cannot read secrets re-sealed under the new one.
func masterKeyCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "master-key", Short: "Manage the master key that seals secrets at rest"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Replace the master key and re-seal every access-key secret and KMS key under the new one (stop servers first)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return rotateMasterKey(c.Context(), cfg)
		},
	})
	return cmd
}

func rotateMasterKey(ctx context.Context, cfg *config) error {
	// A server holding the data dir would keep the old key: hold the dir
	// ourselves, which also keeps a server from starting meanwhile.
	if _, err := os.Stat(cfg.dataDir); err == nil {
		if cfg.database == "" {
			if _, err := os.Stat(filepath.Join(cfg.dataDir, "metadata.db")); errors.Is(err, fs.ErrNotExist) {
				return cfg.noInstallation("")
			}
		}
		lock, err := lockDataDir(cfg.dataDir)
		if err != nil {
			return fmt.Errorf("master-key rotate runs with the servers stopped: %w", err)
		}
		defer lock.Close()
	}
	store, err := cfg.openStore(ctx, false)
	if err != nil {
		return err
	}
	built := false // build closes the store from then on
	defer func() {
		if !built {
			store.Close()
		}
	}()
	old, err := seal.Load(cfg.dataDir)
	if err != nil {
		return err
	}
	var (
		raw     []byte
		newPath = filepath.Join(cfg.dataDir, "master.key.new")
		inFile  = os.Getenv("OPENAMI_MASTER_KEY") == ""
	)
	if inFile {
		raw, err = os.ReadFile(newPath)
		if errors.Is(err, fs.ErrNotExist) {
			raw = seal.Generate()
			err = seal.WriteFile(newPath, raw)
		}
		if err != nil {
			return fmt.Errorf("new master key: %w", err)
		}
	} else {
		v := os.Getenv("OPENAMI_NEW_MASTER_KEY")
		if v == "" {
			return errors.New("OPENAMI_MASTER_KEY is set: give the new key (base64 of 32 random bytes) in OPENAMI_NEW_MASTER_KEY")
		}
		if raw, err = base64.StdEncoding.DecodeString(v); err != nil {
			return fmt.Errorf("OPENAMI_NEW_MASTER_KEY is not base64: %w", err)
		}
	}
	key, err := seal.New(raw)
	if err != nil {
		return err
	}
	built = true
	e, err := cfg.build(ctx, store, key)
	if err != nil {
		return err
	}
	defer e.Close()
	accessKeys, err := e.svc.Identity().ResealAccessKeys(ctx, old)
	if err != nil {
		return fmt.Errorf("%w (run the command again to finish)", err)
	}
	regionKeys, err := e.svc.Identity().ResealRegionKeys(ctx, old)
	if err != nil {
		return fmt.Errorf("%w (run the command again to finish)", err)
	}
	kmsKeys, err := e.svc.KMS().ResealKeyMaterial(ctx, old)
	if err != nil {
		return fmt.Errorf("%w (run the command again to finish)", err)
	}
	userData, err := e.svc.Instances().ResealUserData(ctx, old)
	if err != nil {
		return fmt.Errorf("%w (run the command again to finish)", err)
	}
	if inFile {
		if err := os.Rename(newPath, filepath.Join(cfg.dataDir, "master.key")); err != nil {
			return fmt.Errorf("put the new master key in place (master.key.new holds it; run the command again): %w", err)
		}
		d, err := os.Open(cfg.dataDir)
		if err == nil {
			err = d.Sync()
			d.Close()
		}
		if err != nil {
			return err
		}
	}
	return printJSON(map[string]any{"ResealedAccessKeys": accessKeys, "ResealedRegionKeys": regionKeys, "ResealedKMSKeys": kmsKeys, "ResealedUserData": userData, "InFile": inFile})
}

package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/openami/openami/bundle"
	"github.com/spf13/cobra"
)

// bundleCommand holds the user's bundle commands, the AMI tools'
// ec2-bundle-image and ec2-unbundle (same flags where they make sense),
// which need no server, only the files, and ec2-upload-bundle and
// ec2-download-bundle, which talk to S3 (bundle_s3.go).
func bundleCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "bundle", Short: "Make, open, upload and download instance store-backed image bundles (the AMI tools' format)"}
	cmd.AddCommand(bundleImageCommand(), unbundleCommand(), bundleUploadCommand(cfg), bundleDownloadCommand(cfg))
	return cmd
}

func bundleImageCommand() *cobra.Command {
	var image, certPath, keyPath, user, ec2CertPath, dest, prefix, arch, bdm, kernel, ramdisk, codes, imageType string
	var partSize int64
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Bundle an image file: DEST/PREFIX.part.NN and DEST/PREFIX.manifest.xml (ec2-bundle-image)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			user = strings.ReplaceAll(user, "-", "")
			if len(user) != 12 || strings.Trim(user, "0123456789") != "" {
				return fmt.Errorf("--user %q: the 12-digit account id, not an access key id", user)
			}
			userCert, err := readCert(certPath)
			if err != nil {
				return err
			}
			ec2Cert, err := readCert(ec2CertPath)
			if err != nil {
				return err
			}
			key, err := readRSAKey(keyPath)
			if err != nil {
				return err
			}
			if !key.PublicKey.Equal(userCert.PublicKey) {
				return fmt.Errorf("--privatekey %s is not the key of --cert %s", keyPath, certPath)
			}
			mappings, err := parseBundleMappings(bdm)
			if err != nil {
				return err
			}
			if prefix == "" {
				prefix = filepath.Base(image)
			}
			f, err := os.Open(image)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if !st.Mode().IsRegular() {
				return fmt.Errorf("--image %s is not a regular file", image)
			}
			opts := bundle.Options{
				ImageName: prefix, User: user, Type: imageType, Architecture: arch,
				BlockDeviceMapping: mappings, KernelID: kernel, RamdiskID: ramdisk,
				EC2Cert: ec2Cert, UserCert: userCert, Signer: key, PartSize: partSize,
			}
			if codes != "" {
				opts.ProductCodes = strings.Split(codes, ",")
			}
			sink := &partFiles{dir: bundle.Dir(dest)}
			m, err := bundle.Create(cmd.Context(), f, st.Size(), opts, sink)
			if err != nil {
				sink.remove()
				return err
			}
			raw, err := m.Marshal()
			if err != nil {
				return err
			}
			manifest := filepath.Join(dest, prefix+".manifest.xml")
			if err := writeFileAtomic(manifest, raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, p := range m.Parts {
				fmt.Fprintf(out, "Created %s\n", p.Filename)
			}
			fmt.Fprintf(out, "Manifest %s: %d bytes in %d parts of %s\n", manifest, m.BundledSize, len(m.Parts), image)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&image, "image", "i", "", "the image file to bundle (required)")
	fl.StringVarP(&certPath, "cert", "c", "", "your PEM certificate: the key and IV are encrypted to it too, so that you can unbundle (required)")
	fl.StringVarP(&keyPath, "privatekey", "k", "", "your PEM RSA private key, which signs the manifest (required)")
	fl.StringVarP(&user, "user", "u", "", "your 12-digit account id (required)")
	fl.StringVar(&ec2CertPath, "ec2cert", "", "the region's EC2 certificate (cert-ec2.pem), so that it can launch the image (required)")
	fl.StringVarP(&dest, "destination", "d", os.TempDir(), "the directory to write the bundle to")
	fl.StringVarP(&prefix, "prefix", "p", "", "the bundle's file names' prefix and the image's name (default: the image file's name)")
	fl.StringVarP(&arch, "arch", "r", "x86_64", "the image's architecture (i386, x86_64, arm64)")
	fl.StringVarP(&bdm, "block-device-mapping", "B", "", "launch defaults as VIRTUAL=DEVICE,…: ami, root, swap, ephemeralN (e.g. ami=sda1,root=/dev/sda1,ephemeral0=sda2)")
	fl.StringVar(&kernel, "kernel", "", "the default kernel image id (aki-…)")
	fl.StringVar(&ramdisk, "ramdisk", "", "the default ramdisk image id (ari-…)")
	fl.StringVar(&codes, "productcodes", "", "product codes, comma-separated")
	fl.StringVar(&imageType, "image-type", bundle.TypeMachine, "machine, kernel or ramdisk")
	fl.Int64Var(&partSize, "part-size", bundle.DefaultPartSize, "the parts' size in bytes")
	for _, f := range []string{"image", "cert", "privatekey", "user", "ec2cert"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

func unbundleCommand() *cobra.Command {
	var manifestPath, keyPath, certPath, source, dest string
	cmd := &cobra.Command{
		Use:   "unbundle",
		Short: "Turn a bundle back into its image file with your private key (ec2-unbundle)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := os.Open(manifestPath)
			if err != nil {
				return err
			}
			m, err := bundle.ParseManifest(f)
			f.Close()
			if err != nil {
				return err
			}
			if certPath != "" {
				cert, err := readCert(certPath)
				if err != nil {
					return err
				}
				if err := m.Verify(cert); err != nil {
					return err
				}
			}
			key, err := readRSAKey(keyPath)
			if err != nil {
				return err
			}
			aesKey, iv, err := m.UserKey(bundle.Decrypter(key))
			if err != nil {
				return err
			}
			if m.Name != filepath.Base(m.Name) || m.Name == ".." {
				return fmt.Errorf("the manifest names the image %q, not a plain file name", m.Name)
			}
			if source == "" {
				source = filepath.Dir(manifestPath)
			}
			target := filepath.Join(dest, m.Name)
			tmp, err := os.CreateTemp(dest, "."+m.Name+".*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name()) // after the rename, nothing
			err = bundle.Unbundle(cmd.Context(), m, aesKey, iv, bundle.Dir(source).Open, tmp)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp.Name(), target)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Unbundled %s (%d bytes)\n", target, m.Size)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&manifestPath, "manifest", "m", "", "the bundle's manifest (required)")
	fl.StringVarP(&keyPath, "privatekey", "k", "", "your PEM RSA private key, whose certificate the bundle was made for (required)")
	fl.StringVarP(&certPath, "cert", "c", "", "a PEM certificate the manifest's signature must verify under (optional)")
	fl.StringVarP(&source, "source", "s", "", "the directory of the parts (default: the manifest's)")
	fl.StringVarP(&dest, "destination", "d", ".", "the directory to write the image to")
	for _, f := range []string{"manifest", "privatekey"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// partFiles writes parts to a directory and remembers them, to remove
// them when the bundle fails.
type partFiles struct {
	dir   bundle.Dir
	names []string
}

func (p *partFiles) PutPart(ctx context.Context, part bundle.Part, r io.ReadSeeker) error {
	if err := p.dir.PutPart(ctx, part, r); err != nil {
		return err
	}
	p.names = append(p.names, filepath.Join(string(p.dir), part.Filename))
	return nil
}

func (p *partFiles) remove() {
	for _, name := range p.names {
		os.Remove(name)
	}
}

// parseBundleMappings parses -B's VIRTUAL=DEVICE,… as the AMI tools do.
func parseBundleMappings(s string) ([]bundle.Mapping, error) {
	var out []bundle.Mapping
	if s == "" {
		return nil, nil
	}
	for _, m := range strings.Split(s, ",") {
		virtual, device, ok := strings.Cut(m, "=")
		virtual, device = strings.TrimSpace(virtual), strings.TrimSpace(device)
		if !ok || virtual == "" || device == "" || strings.ContainsAny(virtual+device, " \t=") {
			return nil, fmt.Errorf("--block-device-mapping %q: want VIRTUAL=DEVICE,…", s)
		}
		out = append(out, bundle.Mapping{Virtual: virtual, Device: device})
	}
	return out, nil
}

// readCert reads the first certificate of a PEM file.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, fmt.Errorf("%s: no PEM certificate", path)
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return c, nil
		}
	}
}

// readRSAKey reads a PEM RSA private key, PKCS#1 or PKCS#8.
func readRSAKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, fmt.Errorf("%s: no PEM private key", path)
		}
		var key crypto.PrivateKey
		switch b.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: a %T, not an RSA key", path, key)
		}
		return k, nil
	}
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

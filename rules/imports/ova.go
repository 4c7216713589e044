package imports

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// extractOVA copies the first disk of an OVA (a tar of an OVF descriptor
// and its disks, the disks in the order the OVF lists them, as the OVF
// specification requires) out of the archive into dir and returns its
// path. Only the first disk is taken: ImportImage of an OVA makes a
// one-disk image (docs/IMPORT.md).
func extractOVA(path, dir string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	sawOVF := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("the OVA is not a valid tar archive: %v", err)
		}
		name := strings.ToLower(h.Name)
		switch {
		case strings.HasSuffix(name, ".ovf"):
			sawOVF = true
		case h.Typeflag == tar.TypeReg && (strings.HasSuffix(name, ".vmdk") || strings.HasSuffix(name, ".img") ||
			strings.HasSuffix(name, ".qcow2") || strings.HasSuffix(name, ".vhd") || strings.HasSuffix(name, ".raw")):
			if !sawOVF {
				return "", fmt.Errorf("the OVA does not start with its OVF descriptor")
			}
			out := filepath.Join(dir, "ova-disk")
			w, err := os.Create(out)
			if err != nil {
				return "", err
			}
			if _, err := io.Copy(w, tr); err != nil {
				w.Close()
				return "", fmt.Errorf("the OVA is truncated: %v", err)
			}
			return out, w.Close()
		}
	}
	return "", fmt.Errorf("the OVA holds no disk")
}

package imports

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// extractOVA copies the disks of an OVA (a tar of an OVF descriptor and
// its disks, the disks in the order the OVF lists them, as the OVF
// specification requires) out of the archive into dir and returns their
// paths in that order: the first is the root disk, as AWS takes it.
// Other members (manifests, certificates) are skipped.
func extractOVA(path, dir string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	sawOVF := false
	var out []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the OVA is not a valid tar archive: %v", err)
		}
		name := strings.ToLower(h.Name)
		switch {
		case strings.HasSuffix(name, ".ovf"):
			sawOVF = true
		case h.Typeflag == tar.TypeReg && (strings.HasSuffix(name, ".vmdk") || strings.HasSuffix(name, ".img") ||
			strings.HasSuffix(name, ".qcow2") || strings.HasSuffix(name, ".vhd") || strings.HasSuffix(name, ".raw")):
			if !sawOVF {
				return nil, fmt.Errorf("the OVA does not start with its OVF descriptor")
			}
			if len(out) == maxDisks {
				return nil, fmt.Errorf("the OVA holds more than %d disks", maxDisks)
			}
			p := filepath.Join(dir, "ova-disk"+strconv.Itoa(len(out)))
			w, err := os.Create(p)
			if err != nil {
				return nil, err
			}
			if _, err := io.Copy(w, tr); err != nil {
				w.Close()
				return nil, fmt.Errorf("the OVA is truncated: %v", err)
			}
			if err := w.Close(); err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the OVA holds no disk")
	}
	return out, nil
}

package bundle

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Dir is a bundle's parts as files in a directory, as ec2-bundle-image
// leaves them and ec2-unbundle reads them: Dir(path) is a PartSink for
// Create, and its Open an OpenPart for Unbundle and CheckParts.
type Dir string

// PutPart writes the part to a temporary file in the directory and renames
// it to its name, so that a part is there whole or not at all. It does not
// sync: a caller that needs the parts to survive a crash syncs them.
func (d Dir) PutPart(ctx context.Context, p Part, r io.ReadSeeker) error {
	f, err := os.CreateTemp(string(d), "."+p.Filename+".*")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(string(d), p.Filename))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", p.Filename, err)
	}
	return nil
}

// Open opens the part's file. A missing file's error is fs.ErrNotExist,
// which Unbundle and CheckParts report as ErrMissingPart. The manifest's
// file names are plain names (ParseManifest checks), so Open stays in the
// directory.
func (d Dir) Open(p Part) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(d), p.Filename))
}

// Size returns the size of the part's file, for CheckPartSizes.
func (d Dir) Size(p Part) (int64, error) {
	st, err := os.Stat(filepath.Join(string(d), p.Filename))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

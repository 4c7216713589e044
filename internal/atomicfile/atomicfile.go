// Package atomicfile writes small files so that a reader, or a crash, never
// sees a partial one: the content goes to a temporary file in the same
// directory, is synced, and is then put in place in one step, and the
// directory is synced so that the new name survives a crash too.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write puts data at path with mode, replacing any file there. It fails,
// leaving path as it was, if any step fails.
func Write(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, os.Rename)
}

// Create puts data at path with mode only if nothing is there yet: of two
// processes racing to create path, one wins and the other's Create fails
// with an error that satisfies errors.Is(err, fs.ErrExist).
func Create(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, os.Link)
}

func write(path string, data []byte, mode os.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := place(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

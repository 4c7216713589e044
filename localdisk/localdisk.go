// Package localdisk keeps the disks that live on this server's own file
// system rather than in the block store: instance-store disks, sparse
// files under DIR/instance-store/OWNER/NAME.img. It owns those paths and
// the files under them; which instance gets which disk, and when its
// disks go, is the caller's rule (the service: a disk is opened for an
// instance that may run, and removed when it stops or terminates, so its
// data survives neither, as on EC2).
//
// It also keeps the host's cache of base images (Bases, under
// DIR/bundle-cache: each instance store-backed AMI unpacked once) and the
// copy-on-write disks over them (Disks.OpenOverlay: an instance
// store-backed instance's root, under DIR/instance-store/OWNER like the
// other disks, removed with them).
package localdisk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Disks is the set of local disks under one directory. It is safe for
// concurrent use: each disk is its own file (an overlay two, shared by
// its open handles).
type Disks struct {
	root string // DIR/instance-store

	mu   sync.Mutex
	open map[string]*overlayFile // open overlays by NAME.map path
}

// New returns the local disks kept under dir (the server's data
// directory). Nothing is created until a disk is opened.
func New(dir string) *Disks {
	return &Disks{root: filepath.Join(dir, "instance-store")}
}

// checkName refuses a name that is not one plain path element, so that no
// name the caller passes reaches outside its folder.
func checkName(what, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("localdisk: bad %s name %q", what, name)
	}
	return nil
}

// Open opens the disk name of owner (an instance id), size bytes long,
// creating it blank (a sparse file) if it does not exist and resizing it
// if it has another size. It fails on a name that is not one plain path
// element or with the file system's error.
func (ds *Disks) Open(owner, name string, size int64) (*Disk, error) {
	if err := checkName("owner", owner); err != nil {
		return nil, err
	}
	if err := checkName("disk", name); err != nil {
		return nil, err
	}
	dir := filepath.Join(ds.root, owner)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".img"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err != nil || info.Size() != size {
		if err == nil {
			err = f.Truncate(size)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("instance-store disk %s/%s: %w", owner, name, err)
		}
	}
	return &Disk{f: f, size: size}, nil
}

// Remove deletes every disk of owner; an owner with none is not an error.
// It fails on a bad owner name or with the file system's error.
func (ds *Disks) Remove(owner string) error {
	if err := checkName("owner", owner); err != nil {
		return err
	}
	dir := filepath.Join(ds.root, owner)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	// Overlays still open keep their (unlinked) files until closed; a
	// later OpenOverlay of the same name makes a new disk.
	for key := range ds.open {
		if filepath.Dir(key) == dir {
			delete(ds.open, key)
		}
	}
	return os.RemoveAll(dir)
}

// Disk is one open local disk: a sparse file. Its methods are those of
// an NBD export (nbd.Export); the context is unused, as file I/O is not
// cancellable.
type Disk struct {
	f    *os.File
	size int64
	once sync.Once
}

// Size returns the disk's size in bytes.
func (d *Disk) Size() int64 { return d.size }

// ReadOnly reports false: a local disk is always writable.
func (d *Disk) ReadOnly() bool { return false }

// ReadAt reads len(p) bytes at off; it fails with the file's error (io.EOF
// past the end).
func (d *Disk) ReadAt(_ context.Context, p []byte, off int64) error {
	_, err := d.f.ReadAt(p, off)
	return err
}

// WriteAt writes p at off; it fails with the file's error.
func (d *Disk) WriteAt(_ context.Context, p []byte, off int64) error {
	_, err := d.f.WriteAt(p, off)
	return err
}

// Flush makes what was written durable (fsync).
func (d *Disk) Flush(context.Context) error { return d.f.Sync() }

// Trim discards length bytes at off: they read as zeros after.
func (d *Disk) Trim(ctx context.Context, off, length int64) error {
	return d.WriteZeroes(ctx, off, length)
}

// WriteZeroes writes length zero bytes at off; it fails with the file's
// error, having written some of them.
func (d *Disk) WriteZeroes(_ context.Context, off, length int64) error {
	zero := make([]byte, min(length, 1<<20))
	for done := int64(0); done < length; {
		n := min(int64(len(zero)), length-done)
		if _, err := d.f.WriteAt(zero[:n], off+done); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// Close closes the disk's file; closing again does nothing.
func (d *Disk) Close() error {
	var err error
	d.once.Do(func() { err = d.f.Close() })
	return err
}

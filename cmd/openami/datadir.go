package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The data directory holds one installation: metadata.db (with -wal and
// -shm), master.key, credentials, config, blocks/REGION/..., vms/...,
// nbd.sock and lock. All of it is its user's alone: directories 0700,
// files 0600 (blobs 0400).

// lockName is the file in the data directory a server holds an exclusive
// flock(2) on while it runs, with its pid inside for the next one to name.
const lockName = "lock"

// dataDir is a data directory held by this process's server.
type dataDir struct {
	path string
	lock *os.File
	// fresh is set when the directory held nothing before this start (it
	// did not exist, or was empty): a start that fails may then remove
	// everything in it.
	fresh   bool
	created bool
}

// heldError says that another process's server holds a data directory.
type heldError struct {
	dir string
	pid int // 0 if the lock file names none
}

func (e *heldError) Error() string {
	who := "another openami server"
	if e.pid > 0 {
		who = fmt.Sprintf("another openami server (pid %d)", e.pid)
	}
	return fmt.Sprintf("data directory %s is in use by %s; stop it first, or give this one another --data-dir", e.dir, who)
}

// holdDataDir creates the data directory if it does not exist (0700),
// takes its lock, and tightens the modes of what it holds (see
// tightenModes). It fails with a *heldError, having changed nothing, if
// another server holds the directory.
func holdDataDir(path string) (*dataDir, error) {
	d := &dataDir{path: path}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		d.created = true
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	f, err := lockDataDir(path)
	if err != nil {
		return nil, err
	}
	d.lock = f
	entries, err := os.ReadDir(path)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("data dir: %w", err)
	}
	d.fresh = d.created || len(entries) == 1 && entries[0].Name() == lockName
	if err := tightenModes(path); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// lockDataDir takes the exclusive lock of the data directory at path,
// without waiting, and writes this process's pid into the lock file. It
// fails with a *heldError if another open of the lock file holds it (in
// any process, this one included: flock locks belong to open files).
// Closing the returned file releases the lock; so does the process's exit,
// however it ends, which is why the file is never removed.
func lockDataDir(path string) (*os.File, error) {
	name := filepath.Join(path, lockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	// A holder that is exiting (a server killed a moment ago, restarted at
	// once by its supervisor) lets go as the kernel closes its files: give
	// it lockGrace before saying who holds the directory.
	deadline := time.Now().Add(lockGrace)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("data dir lock %s: %w", name, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, &heldError{dir: path, pid: lockHolder(path)}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir lock %s: %w", name, err)
	}
	return f, nil
}

// lockGrace is how long taking the lock waits for a holder that may be
// exiting.
const lockGrace = 2 * time.Second

// lockHolder returns the pid written in the data directory's lock file, or
// 0 if it names none.
func lockHolder(path string) int {
	b, err := os.ReadFile(filepath.Join(path, lockName))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// Close releases the data directory's lock.
func (d *dataDir) Close() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close()
	d.lock = nil
	return err
}

// undo removes what a failed start made in a data directory that held
// nothing before it, so that the next start begins afresh rather than on
// a half-made installation; the lock is released. It leaves a directory
// that held anything untouched.
func (d *dataDir) undo() {
	if !d.fresh {
		d.Close()
		return
	}
	if d.created {
		os.RemoveAll(d.path)
	} else if entries, err := os.ReadDir(d.path); err == nil {
		for _, e := range entries {
			os.RemoveAll(filepath.Join(d.path, e.Name()))
		}
	}
	d.Close()
}

// tightenModes makes the data directory and what it holds private to its
// user, for installations made before openami was strict about it (their
// metadata.db, -wal and -shm were 0644, and the directory could be 0755):
// it takes the group's and others' bits off every directory and regular
// file, leaving the owner's as they are (blobs stay 0400). Symbolic links
// are left alone.
//
// It does not walk into the block stores (blocks/REGION): they may hold
// millions of blobs, which blob/dir has always written 0400 in 0700
// directories, and a 0700 blocks directory keeps everything below it from
// other users anyway.
func tightenModes(root string) error {
	// A data dir that is a symbolic link (to another disk, say) is walked
	// where it leads: WalkDir does not follow a link, not even the root.
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("make the data dir private: %w", err)
	}
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("make the data dir private: %w", err)
		}
		if !e.IsDir() && !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("make the data dir private: %w", err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return fmt.Errorf("make the data dir private: %w", err)
			}
		}
		if e.IsDir() && p != root {
			if rel, err := filepath.Rel(root, p); err == nil && filepath.Dir(rel) == "blocks" {
				return filepath.SkipDir
			}
		}
		return nil
	})
}

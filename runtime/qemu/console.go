package qemu

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// ConsoleLimit is how much of a VM's serial console is kept: the most
// recent 64 KiB, what EC2's GetConsoleOutput returns.
const ConsoleLimit = 64 << 10

// consoleLog is a VM's serial console on disk, bounded: it appends what
// the guest writes and, once the file has grown past twice the limit,
// rewrites it with only the last ConsoleLimit bytes (so each byte is
// copied at most about once more). The file outlives the VM (a stopped
// instance's console can still be read) and is read by readConsole.
type consoleLog struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	size    int64
	written int64 // bytes the guest wrote since the file was opened
}

// openConsole opens (creating) the console file at path for appending.
func openConsole(path string) (*consoleLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &consoleLog{path: path, f: f, size: st.Size()}, nil
}

// Write appends p; it fails only when the file cannot be written.
func (c *consoleLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return len(p), nil // closed: the VM is being torn down
	}
	n, err := c.f.Write(p)
	c.size += int64(n)
	c.written += int64(n)
	if err != nil {
		return n, err
	}
	if c.size > 2*ConsoleLimit {
		if err := c.compact(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Written returns how many bytes were written since openConsole: more
// than zero once this VM's guest has said anything.
func (c *consoleLog) Written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

// compact rewrites the file with its last ConsoleLimit bytes.
func (c *consoleLog) compact() error {
	tail, err := readConsole(c.path)
	if err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, tail, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return err
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	c.f.Close()
	c.f, c.size = f, int64(len(tail))
	return nil
}

// Close closes the file; later writes are dropped.
func (c *consoleLog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// readConsole returns the last ConsoleLimit bytes of a console file,
// starting at a line boundary when the cut falls inside a line; nothing
// (and no error) when there is no file.
func readConsole(path string) ([]byte, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-ConsoleLimit, 0)
	buf := make([]byte, st.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		return nil, err
	}
	buf = buf[:n]
	if off > 0 {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 && i < len(buf)-1 {
			buf = buf[i+1:]
		}
	}
	return buf, nil
}

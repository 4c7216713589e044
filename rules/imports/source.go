package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/openami/openami/internal/nbdclient"
	"golang.org/x/sys/unix"
)

// extent is a range of a disk's guest view that may hold data: what is
// outside every extent reads as zeros and is not read at all.
type extent struct{ start, length int64 }

// diskSource is the guest view of one disk: its bytes (ReadAt), how many
// (size) and where the data is (extents, in order).
type diskSource struct {
	io.ReaderAt
	size    int64
	extents []extent
	close   func()
}

// openSource returns the guest view of a validated disk file. A RAW file
// is read as it is, its holes (SEEK_DATA/SEEK_HOLE) skipped. Any other
// format is decoded by qemu: a read-only qemu-nbd export of the file,
// read over a unix socket, its data extents from `qemu-img map`
// — so no raw copy of the disk is ever written (docs/IMPORT.md). A
// data extent that runs past the file's end is a truncated disk.
func (s *Imports) openSource(ctx context.Context, path, format string, virtualSize int64) (*diskSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if format == FormatRAW {
		ext, err := fileExtents(f, virtualSize)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &diskSource{ReaderAt: f, size: virtualSize, extents: ext, close: func() { f.Close() }}, nil
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, err
	}
	ext, err := s.dataExtents(ctx, path, format, st.Size())
	if err != nil {
		return nil, clientError("Disk validation failed [%s]", err)
	}
	c, stop, err := s.serveNBD(ctx, path, format)
	if err != nil {
		return nil, err
	}
	if c.Size() < virtualSize {
		stop()
		return nil, fmt.Errorf("qemu-nbd exports %d bytes of a %d-byte disk", c.Size(), virtualSize)
	}
	return &diskSource{ReaderAt: c, size: virtualSize, extents: ext, close: stop}, nil
}

// fileExtents lists the data ranges of a file's first size bytes by
// SEEK_DATA and SEEK_HOLE: holes are never read. A file system without
// them reports the whole file as data.
func fileExtents(f *os.File, size int64) ([]extent, error) {
	var out []extent
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data after off
		}
		if err != nil {
			return []extent{{0, size}}, nil
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil || hole > size {
			hole = size
		}
		out = append(out, extent{data, hole - data})
		off = hole
	}
	return out, nil
}

// dataExtents runs `qemu-img map` on a disk file of a known format and
// returns the ranges of its guest view that are not known zeros. A data
// extent stored past the file's end means a truncated file (qemu would
// read it as zeros): an error.
func (s *Imports) dataExtents(ctx context.Context, path, format string, fileSize int64) ([]extent, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	f, arg, err := s.openDisk(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := s.qemu(ctx, probeLimits, f, s.cfg.QemuImg, "map", "--output=json", "-f", qemuFormats[format], arg).Output()
	if err != nil {
		return nil, fmt.Errorf("the %s disk cannot be mapped: %s", format, exitText(err))
	}
	var extents []struct {
		Start  int64  `json:"start"`
		Length int64  `json:"length"`
		Data   bool   `json:"data"`
		Zero   bool   `json:"zero"`
		Offset *int64 `json:"offset"`
	}
	if err := json.Unmarshal(out, &extents); err != nil {
		return nil, fmt.Errorf("qemu-img map: %w", err)
	}
	var ext []extent
	for _, e := range extents {
		if e.Data && e.Offset != nil && *e.Offset+e.Length > fileSize {
			return nil, fmt.Errorf("the %s disk is truncated: its data at %d runs past the file's end (%d bytes)", format, e.Start, fileSize)
		}
		if e.Zero {
			continue
		}
		if n := len(ext); n > 0 && ext[n-1].start+ext[n-1].length == e.Start {
			ext[n-1].length += e.Length
		} else {
			ext = append(ext, extent{e.Start, e.Length})
		}
	}
	return ext, nil
}

// serveNBD starts a read-only qemu-nbd export of a disk file on a unix
// socket of its own and connects to it. stop disconnects and ends qemu-nbd.
func (s *Imports) serveNBD(ctx context.Context, path, format string) (*nbdclient.Client, func(), error) {
	// The socket's directory is its own, under the system's temporary
	// directory (a short path: a unix socket's has at most 107 bytes),
	// and qemu-nbd's when it runs as nobody.
	sockDir, err := os.MkdirTemp("", "openami-nbd-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(sockDir) // the connected socket outlives its name
	if c := unprivileged(); c != nil {
		if err := os.Chown(sockDir, int(c.Uid), int(c.Gid)); err != nil {
			return nil, nil, err
		}
	}
	sock := filepath.Join(sockDir, "s")
	f, arg, err := s.openDisk(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close() // qemu-nbd has its own copy once started
	cmd := s.qemu(ctx, convertLimits, f, s.cfg.QemuNBD, "--read-only", "--format="+qemuFormats[format], "--socket="+sock, arg)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("qemu-nbd: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	kill := func() { cmd.Process.Kill(); <-exited }
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			c, err := nbdclient.NewClient(conn, "")
			if err != nil {
				conn.Close()
				kill()
				return nil, nil, fmt.Errorf("qemu-nbd: %w", err)
			}
			return c, func() { c.Close(); kill() }, nil
		}
		select {
		case <-exited:
			return nil, nil, clientError("Disk validation failed [the %s disk cannot be opened: %s]", format, firstLine(stderr.String()))
		case <-ctx.Done():
			kill()
			return nil, nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			kill()
			return nil, nil, errors.New("qemu-nbd did not listen within 30 s")
		}
	}
}

// limitedBuffer keeps the first 4 KiB written to it (a child's stderr).
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

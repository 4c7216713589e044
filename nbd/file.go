package nbd

import (
	"context"
	"net"
	"os"
)

// ServeFile serves f, read-only, as the export of whatever name a client
// asks for, on l until ctx is done; then it closes l and every
// connection, and returns. It does not close f. rules/imports reads an
// uploaded disk in place through it: qemu-img and qemu-nbd, running as
// nobody, connect to l instead of opening a file they may not read.
func ServeFile(ctx context.Context, f *os.File, l net.Listener) error {
	st, err := f.Stat()
	if err != nil {
		l.Close()
		return err
	}
	e := fileExport{f: f, size: st.Size()}
	srv := New(func(context.Context, string) (Export, error) { return e, nil }, nil)
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err = srv.Serve(l)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// fileExport is a read-only export of a file of a fixed size.
type fileExport struct {
	f    *os.File
	size int64
}

func (e fileExport) Size() int64    { return e.size }
func (e fileExport) ReadOnly() bool { return true }

func (e fileExport) ReadAt(_ context.Context, p []byte, off int64) error {
	n, err := e.f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	return err
}

func (fileExport) WriteAt(context.Context, []byte, int64) error    { return ErrReadOnly }
func (fileExport) Flush(context.Context) error                     { return nil }
func (fileExport) Trim(context.Context, int64, int64) error        { return ErrReadOnly }
func (fileExport) WriteZeroes(context.Context, int64, int64) error { return ErrReadOnly }

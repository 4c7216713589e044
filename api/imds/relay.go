package imds

import (
	"io"
	"net"
)

// Relay copies one guest connection, given as in and out (QEMU's guestfwd
// command gets the connection as its stdin and stdout), to the unix
// socket of an instance's metadata service and back, until both
// directions are done. It is what `openami imds-relay SOCKET` runs; it
// must never write to stderr, which QEMU also connects to the guest.
func Relay(socket string, in io.Reader, out io.Writer) error {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() {
		io.Copy(conn, in)
		// The guest is done sending: let the server see the end of the
		// request stream (an HTTP/1.0 client's end).
		conn.(*net.UnixConn).CloseWrite()
	}()
	_, err = io.Copy(out, conn)
	return err
}

// Package nbd is a server for the Network Block Device protocol
// (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md),
// small enough to audit, which serves volumes to qemu-img, qemu-io and QEMU
// virtual machines. The caller supplies a Resolver that maps export names to
// Exports and a net.Listener (usually a unix socket); the package does not
// know what a volume is.
//
// # Protocol subset
//
// Only what those clients need, and nothing that widens the attack surface:
//
//   - Fixed newstyle handshake, advertising NBD_FLAG_FIXED_NEWSTYLE and
//     NBD_FLAG_NO_ZEROES (honoured for NBD_OPT_EXPORT_NAME). No oldstyle
//     handshake and no TLS: the server is meant for local unix sockets.
//   - NBD_OPT_GO and NBD_OPT_INFO reply with NBD_INFO_EXPORT and
//     NBD_INFO_BLOCK_SIZE (minimum 1, preferred 4096, maximum 32 MiB),
//     whichever information the client asked for; an export the Resolver
//     refuses gets NBD_REP_ERR_UNKNOWN. NBD_OPT_EXPORT_NAME works too, but
//     since it cannot carry an error, an unknown export closes the
//     connection. NBD_OPT_ABORT is acknowledged. NBD_OPT_LIST is refused
//     with NBD_REP_ERR_POLICY because export names are volume ids.
//     NBD_OPT_STRUCTURED_REPLY, metadata contexts, NBD_OPT_STARTTLS and
//     unknown options get NBD_REP_ERR_UNSUP. Option data over 8 KiB is
//     skipped and answered with NBD_REP_ERR_TOO_BIG (NBD_OPT_EXPORT_NAME,
//     which has no error reply, closes instead); over 1 MiB, the connection
//     is closed. The whole negotiation must finish within 30 s.
//   - Transmission uses simple replies only, with the commands READ, WRITE,
//     FLUSH, TRIM, WRITE_ZEROES and DISC, and the flags NBD_FLAG_HAS_FLAGS,
//     SEND_FLUSH, SEND_FUA, SEND_TRIM, SEND_WRITE_ZEROES and READ_ONLY for
//     read-only exports. NBD_CMD_FLAG_FUA flushes after the command before
//     replying; NBD_CMD_FLAG_NO_HOLE is accepted. BLOCK_STATUS (it needs
//     structured replies), CACHE and FAST_ZERO are not advertised and are
//     refused with NBD_EINVAL. Neither is CAN_MULTI_CONN: it would promise
//     that a flush on one connection covers writes made on the others,
//     which depends on the Export.
//
// # Errors
//
// Requests are checked before they reach the Export. Unknown commands or
// flags, reads and trims past the end, and reads, writes and zeroings over
// 32 MiB get NBD_EINVAL; writes and zeroings past the end get NBD_ENOSPC
// (as the spec asks); writes, trims and zeroings on a read-only export get
// NBD_EPERM. Export errors become NBD_EIO, or NBD_ENOSPC and NBD_EPERM when
// they wrap ErrNoSpace and ErrReadOnly. A request with a bad magic number
// closes the connection, as nothing after it can be parsed.
//
// # Decisions
//
// Oversize writes: the payload of a refused NBD_CMD_WRITE (too long, out of
// range, read-only) is read and dropped through a small buffer, then the
// request is answered with its error. The client gets a clean error instead
// of a dropped connection, and the server spends no memory on it.
//
// Concurrency: clients pipeline requests, so one goroutine per connection
// reads them in order and 16 workers run them and reply as they finish;
// replies are serialized by a mutex, a read's header and data going out in
// one write. Request buffers come from size-classed pools (4 KiB to 32 MiB),
// so a long sequential copy does not allocate, and a connection holds at
// most 17 buffers (16 running, one being read) whose size follows its
// requests: 17 × 32 MiB at worst, 17 × 2 MiB for qemu-img convert.
//
// Flush ordering: NBD_CMD_FLUSH waits for every write, trim and zeroing
// received before it to complete, then calls Export.Flush. The spec only
// requires covering writes already replied to; the stronger rule is simple
// and protects clients that do not wait. Reading pauses during that wait;
// the writes are at most 16 and usually done already.
//
// Shutdown: NBD_CMD_DISC lets requests in flight finish and reply, then
// closes the connection. A connection that drops or breaks the protocol
// cancels its context instead, since nobody will read the replies. Close
// cancels every connection's context (requests that fail because of it are
// answered with NBD_ESHUTDOWN if the connection is still up), closes them
// and waits for their handlers, so Exports must honour their context for
// Close to be prompt.
package nbd

package nbd

import (
	"errors"
	"math/bits"
	"sync"
)

// Wire constants, named after the spec's NBD_* names
// (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md).
// Only what this server speaks is listed.

// Magic numbers.
const (
	nbdMagic         = 0x4e42444d41474943 // "NBDMAGIC"
	optMagic         = 0x49484156454f5054 // "IHAVEOPT"
	repMagic         = 0x3e889045565a9    // option reply
	requestMagic     = 0x25609513
	simpleReplyMagic = 0x67446698
)

// Handshake flags (server) and client flags.
const (
	flagFixedNewstyle  = 1 << 0
	flagNoZeroes       = 1 << 1
	flagCFixedNewstyle = 1 << 0
	flagCNoZeroes      = 1 << 1
)

// Transmission flags.
const (
	flagHasFlags        = 1 << 0
	flagReadOnly        = 1 << 1
	flagSendFlush       = 1 << 2
	flagSendFUA         = 1 << 3
	flagSendTrim        = 1 << 5
	flagSendWriteZeroes = 1 << 6
)

// Options.
const (
	optExportName = 1
	optAbort      = 2
	optList       = 3
	optInfo       = 6
	optGo         = 7
)

// Option reply types.
const (
	repAck        = 1
	repInfo       = 3
	repErrUnsup   = 1<<31 + 1
	repErrPolicy  = 1<<31 + 2
	repErrInvalid = 1<<31 + 3
	repErrUnknown = 1<<31 + 6
	repErrTooBig  = 1<<31 + 9
)

// Information types in NBD_REP_INFO replies.
const (
	infoExport    = 0
	infoBlockSize = 3
)

// Commands and command flags.
const (
	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdWriteZeroes = 6

	cmdFlagFUA    = 1 << 0
	cmdFlagNoHole = 1 << 1
)

// Error values in simple replies. They are the spec's, not the host's errno.
const (
	errnoPerm  = 1   // NBD_EPERM
	errnoIO    = 5   // NBD_EIO
	errnoInval = 22  // NBD_EINVAL
	errnoNoSpc = 28  // NBD_ENOSPC
	errnoShut  = 108 // NBD_ESHUTDOWN
)

// Sizes and limits.
const (
	requestLen     = 28 // magic, flags, type, handle, offset, length
	replyLen       = 16 // magic, error, handle
	optHeaderLen   = 16 // IHAVEOPT, option, length
	maxNameLen     = 4096
	maxOptionLen   = 8 << 10 // a GO with a maximal name and a few info requests fits
	maxOptionSkip  = 1 << 20 // larger options are not worth reading to stay in sync
	minBlockSize   = 1
	prefBlockSize  = 4096
	maxBlockSize   = 32 << 20 // the spec's interoperable maximum; what qemu uses
	maxInFlight    = 16
	zeroPaddingLen = 124
)

// errnoFor maps an Export error to the error value sent to the client. Only
// the sentinels say something the client can act on; everything else is an
// I/O error.
func errnoFor(err error) uint32 {
	switch {
	case errors.Is(err, ErrNoSpace):
		return errnoNoSpc
	case errors.Is(err, ErrReadOnly):
		return errnoPerm
	default:
		return errnoIO
	}
}

// Request buffers come from power-of-two size classes so that a 4 KiB read
// does not pin a 32 MiB buffer, and a long copy of same-sized requests
// reuses the same few buffers. Each buffer has replyLen bytes of headroom so
// a read reply's header and data go out in one write.
const (
	minBufShift = 12 // 4 KiB
	maxBufShift = 25 // maxBlockSize
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// bufClass returns the index of the smallest size class holding n bytes.
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns a buffer of at least replyLen+n bytes; n <= maxBlockSize.
// Pointers are pooled so that Put does not allocate.
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, replyLen+1<<(minBufShift+c))
	return &b
}

// putBuf returns a buffer obtained from getBuf to its pool.
func putBuf(b *[]byte) {
	bufPools[bufClass(len(*b)-replyLen)].Put(b)
}

package checksum

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
)

// The checksum of an object assembled by CompleteMultipartUpload is made
// from its parts' checksums, in one of S3's two ways:
//
//   - COMPOSITE (any algorithm but CRC64NVME): the checksum of the
//     concatenated binary checksums of the parts, followed by "-" and the
//     number of parts;
//   - FULL_OBJECT (the CRCs; always for CRC64NVME): the checksum of the
//     whole object's bytes, which a CRC lets one compute from the parts'
//     CRCs and lengths without reading the bytes again.

// Part is one part's checksum (base64) and length in bytes.
type Part struct {
	Sum  string
	Size int64
}

// Composite returns the COMPOSITE checksum of an object made of parts,
// such as "AAAAAA==-3". It returns Invalid for a part whose checksum is
// not one of a.
func Composite(a Algorithm, parts []Part) (string, error) {
	h := a.New()
	if h == nil || a == CRC64NVME {
		return "", fail(Invalid, "The %s checksum type does not support composite checksums.", a)
	}
	for i, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p.Sum)
		if err != nil || len(b) != a.Size() {
			return "", fail(Invalid, "The %s checksum of part %d is invalid.", a, i+1)
		}
		h.Write(b)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// FullObject returns the FULL_OBJECT checksum of an object made of parts:
// the CRC of all their bytes in order, from the parts' CRCs. It returns
// Invalid for an algorithm that is not a CRC, or a part whose checksum is
// not one of a.
func FullObject(a Algorithm, parts []Part) (string, error) {
	var poly uint64
	switch a {
	case CRC32:
		poly = 0xedb88320
	case CRC32C:
		poly = 0x82f63b78
	case CRC64NVME:
		poly = crc64NVMEPoly
	default:
		return "", fail(Invalid, "The %s checksum type does not support full object checksums.", a)
	}
	width := 8 * a.Size()
	var crc uint64
	for i, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p.Sum)
		if err != nil || len(b) != a.Size() || p.Size < 0 {
			return "", fail(Invalid, "The %s checksum of part %d is invalid.", a, i+1)
		}
		var c uint64
		if width == 32 {
			c = uint64(binary.BigEndian.Uint32(b))
		} else {
			c = binary.BigEndian.Uint64(b)
		}
		if i == 0 {
			crc = c
			continue
		}
		crc = combine(poly, width, crc, c, p.Size)
	}
	out := make([]byte, a.Size())
	if width == 32 {
		binary.BigEndian.PutUint32(out, uint32(crc))
	} else {
		binary.BigEndian.PutUint64(out, crc)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// combine returns the CRC of A followed by B from crc1 = CRC(A), crc2 =
// CRC(B) and len2 = len(B), for a reflected CRC of the given width and
// (reflected) polynomial with all-ones initial value and final inversion,
// as zlib's crc32_combine does: crc1 is carried through len2 zero bytes by
// squaring the GF(2) matrix of one zero bit, then crc2 is added. The cost
// is O(width² · log len2), not O(len2).
func combine(poly uint64, width int, crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	odd := make([]uint64, width)  // the operator for one zero bit, then 4, 16...
	even := make([]uint64, width) // 2, 8, 32... zero bits
	odd[0] = poly
	row := uint64(1)
	for n := 1; n < width; n++ {
		odd[n] = row
		row <<= 1
	}
	square(even, odd) // two zero bits
	square(odd, even) // four
	for {
		square(even, odd) // one zero byte, then 4, 16...
		if len2&1 != 0 {
			crc1 = times(even, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
		square(odd, even)
		if len2&1 != 0 {
			crc1 = times(odd, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

// times multiplies the GF(2) matrix mat by the vector vec.
func times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

// square sets sq to mat².
func square(sq, mat []uint64) {
	for n := range mat {
		sq[n] = times(mat, mat[n])
	}
}

package sshkey

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/ssh"
)

// PuTTY's private key file, version 2, as specified in the PuTTY manual's
// appendix on PPK files and as puttygen writes it:
//
//	PuTTY-User-Key-File-2: <algorithm>
//	Encryption: none
//	Comment: <comment>
//	Public-Lines: <n>
//	<base64 of the public key blob, 64 characters a line>
//	Private-Lines: <m>
//	<base64 of the private key blob, 64 characters a line>
//	Private-MAC: <hex HMAC-SHA-1>
//
// Version 2 rather than 3 because every PuTTY release reads version 2, while
// version 3 needs PuTTY 0.75 (2021) or later; nothing in version 3 matters
// for an unencrypted file, where it only swaps SHA-1 for SHA-256 in the MAC.
const (
	ppkHeader  = "PuTTY-User-Key-File-2"
	ppkMACSalt = "putty-private-key-file-mac-key"
	ppkLineLen = 64
)

// marshalPPK writes priv as an unencrypted PPK version 2 file with the given
// comment, byte for byte as puttygen 0.78 writes it with
// `--ppk-param version=2`.
func marshalPPK(priv any, comment string) ([]byte, error) {
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, internal("wrapping private key", err)
	}
	pub := signer.PublicKey()

	var private []byte
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return nil, internal("encoding ppk", fmt.Errorf("rsa key has %d primes, ppk holds 2", len(k.Primes)))
		}
		p, q := k.Primes[0], k.Primes[1]
		// PuTTY's iqmp is q⁻¹ mod p, the same as PKCS#1's coefficient.
		iqmp := new(big.Int).ModInverse(q, p)
		if iqmp == nil {
			return nil, internal("encoding ppk", fmt.Errorf("rsa primes are not coprime"))
		}
		for _, n := range []*big.Int{k.D, p, q, iqmp} {
			private = appendMPInt(private, n)
		}
	case ed25519.PrivateKey:
		// The 32-byte seed, as a string: what OpenSSH calls the private key
		// is seed‖public, and PuTTY keeps only the seed.
		private = appendString(private, k.Seed())
	default:
		return nil, internal("encoding ppk", fmt.Errorf("unsupported key type %T", priv))
	}

	const encryption = "none"
	// The MAC key is SHA-1 of the salt followed by the passphrase, which is
	// empty for an unencrypted file.
	macKey := sha1.Sum([]byte(ppkMACSalt))
	mac := hmac.New(sha1.New, macKey[:])
	var macData []byte
	for _, field := range [][]byte{[]byte(pub.Type()), []byte(encryption), []byte(comment), pub.Marshal(), private} {
		macData = appendString(macData, field)
	}
	mac.Write(macData)

	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", ppkHeader, pub.Type())
	fmt.Fprintf(&b, "Encryption: %s\n", encryption)
	fmt.Fprintf(&b, "Comment: %s\n", comment)
	writePPKLines(&b, "Public-Lines", pub.Marshal())
	writePPKLines(&b, "Private-Lines", private)
	fmt.Fprintf(&b, "Private-MAC: %s\n", hex.EncodeToString(mac.Sum(nil)))
	return []byte(b.String()), nil
}

func writePPKLines(b *strings.Builder, name string, blob []byte) {
	s := base64.StdEncoding.EncodeToString(blob)
	n := (len(s) + ppkLineLen - 1) / ppkLineLen
	fmt.Fprintf(b, "%s: %d\n", name, n)
	for len(s) > ppkLineLen {
		b.WriteString(s[:ppkLineLen])
		b.WriteByte('\n')
		s = s[ppkLineLen:]
	}
	b.WriteString(s)
	b.WriteByte('\n')
}

// appendString appends s in SSH wire form: a big-endian uint32 length, then s.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendMPInt appends a non-negative n as an SSH mpint (RFC 4251 §5):
// minimal big-endian bytes, with a leading zero byte when the top bit is set.
func appendMPInt(b []byte, n *big.Int) []byte {
	v := n.Bytes()
	if len(v) > 0 && v[0]&0x80 != 0 {
		v = append([]byte{0}, v...)
	}
	return appendString(b, v)
}

package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The pieces of the canonical request, built from the request as the server
// received it. Every rule here has to agree byte for byte with the signers
// the clients use (botocore, aws-sdk-go-v2); where they differ the comment
// says which one is followed and why.

const hexUpper = "0123456789ABCDEF"

// uriEncode percent-encodes every byte of s outside the RFC 3986 unreserved
// set (A-Z a-z 0-9 - _ . ~), with uppercase hex, as SigV4 requires. A space
// becomes %20, never '+'. With keepSlash, '/' is left alone, for paths.
func uriEncode(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && (s[i] != '/' || !keepSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (c == '/' && keepSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// canonicalURIs returns the canonical URI of r, and a second candidate when
// normalising the path changes it. Both SDK families encode the path a
// second time for non-S3 services (the request path is already escaped on
// the wire, so "%2F" is signed as "%252F"), but botocore also removes dot
// segments and empty segments before signing while aws-sdk-go-v2 does not.
// The second candidate lets a botocore request with such a path verify; it
// is signed by the same key, so accepting it grants nothing new.
func canonicalURIs(u *url.URL) []string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	uris := []string{uriEncode(p, true)}
	if n := removeDotSegments(p); n != p {
		uris = append(uris, uriEncode(n, true))
	}
	return uris
}

// canonicalURIsS3 returns the canonical URI of an S3 request: the decoded
// path URI-encoded once, without normalisation, since an S3 key may hold
// "//", "." and ".." segments that are part of its name. A second
// candidate is the path exactly as it came on the wire, for a client that
// escapes a byte differently from SigV4's set (aws-sdk-go-v2 signs the
// escaped path it sends, and keeps "%2F" in a key as "%2F"); like the
// botocore candidate above, it is signed by the same key and grants nothing
// new.
func canonicalURIsS3(u *url.URL) []string {
	p := u.Path
	if p == "" {
		p = "/"
	}
	uris := []string{uriEncode(p, true)}
	if raw := u.EscapedPath(); raw != "" && raw != uris[0] {
		uris = append(uris, raw)
	}
	return uris
}

// removeDotSegments normalises a path as botocore's remove_dot_segments
// does: "." and empty segments vanish, ".." removes its parent, and the
// leading and trailing slashes are kept.
func removeDotSegments(p string) string {
	if p == "" {
		return "/"
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// param is one decoded query parameter, in the order it appeared.
type param struct{ key, value string }

// parseQuery decodes a raw query string. It is stricter than
// url.ParseQuery in one way only: a bad percent-escape is an error rather
// than a silently dropped pair, because a dropped pair would make the
// canonical query differ from what the client signed for reasons the client
// could not see. Like url.ParseQuery it reads '+' as a space, which is how
// aws-sdk-go-v2 reads the query it signs.
func parseQuery(raw string) ([]param, error) {
	var ps []param
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		ps = append(ps, param{k, v})
	}
	return ps, nil
}

// canonicalQuery encodes every parameter and sorts the encoded pairs by key,
// then value. The sort must come after encoding: "a/b" and "a-b" sort one
// way decoded and the other way encoded, and the clients sort encoded. In
// the presigned form the signature itself is not part of what was signed.
func canonicalQuery(ps []param, presigned bool) string {
	enc := make([]param, 0, len(ps))
	for _, p := range ps {
		if presigned && p.key == paramSignature {
			continue
		}
		enc = append(enc, param{uriEncode(p.key, false), uriEncode(p.value, false)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].key != enc[j].key {
			return enc[i].key < enc[j].key
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// canonicalHeaders writes "name:value\n" for each signed header, in the
// order the client listed them.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	return b.String()
}

// headerValue returns the canonical value of one signed header: every value
// trimmed, runs of spaces collapsed, joined with ",". Go's server moves a few
// headers out of r.Header, so those are rebuilt from where it put them.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host", ":authority":
		h := r.Host
		if h == "" {
			h = r.URL.Host
		}
		return trimAll(h)
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		// A name textproto would not canonicalise is stored as sent.
		for k, vs := range r.Header {
			if strings.EqualFold(k, name) {
				vals = vs
				break
			}
		}
	}
	if len(vals) == 0 {
		switch name {
		case "content-length":
			if r.ContentLength >= 0 {
				return strconv.FormatInt(r.ContentLength, 10)
			}
		case "transfer-encoding":
			vals = r.TransferEncoding
		}
	}
	// A fresh slice: vals may be r.Header's own.
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = trimAll(v)
	}
	return strings.Join(out, ",")
}

// trimAll trims surrounding whitespace and collapses each inner run of
// spaces to one, the "Trimall" of the SigV4 specification. Only spaces are
// collapsed, as aws-sdk-go-v2 does; Go's server has already trimmed tabs at
// the ends.
func trimAll(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// canonicalRequest joins the six parts of the canonical request.
func canonicalRequest(method, uri, query, headers string, signed []string, payload string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" +
		strings.Join(signed, ";") + "\n" + payload
}

// stringToSign is what the signing key signs: the algorithm, the request
// date, the credential scope and the hash of the canonical request.
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signingKey derives the key for one day, region and service. The chain
// means a leaked derived key is useless outside its scope.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

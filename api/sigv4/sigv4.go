// Package sigv4 verifies AWS Signature Version 4 on requests arriving at
// the server, in both of its forms: the Authorization header that SDKs,
// the aws CLI and Terraform send on every call, and the presigned query
// string (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders, X-Amz-Signature) that EC2's cross-region copy
// parameters and STS identity tokens carry.
//
// Verification is split in two so that the caller can look the access key
// up in between, and read the body only for a request worth reading:
//
//	a, err := sigv4.Parse(r)           // no secrets involved
//	secret, ok := keys.Lookup(a.AccessKeyID)
//	body, sum := read and hash r.Body
//	err = a.Verify(r, secret, sum, time.Now())
//
// Every failure is an *Error whose Failure says which class of AWS error to
// answer with; Region and Service are as the client claimed them, and
// checking that they name this endpoint is the caller's job.
//
// The canonical request follows the rules for non-S3 services: the path is
// URI-encoded a second time, as botocore and aws-sdk-go-v2 do for every
// service but S3. A request whose credential scope names service s3 is
// verified by S3's rules instead (ServiceS3): the path URI-encoded once and
// not normalised, UNSIGNED-PAYLOAD for presigned URLs, and bodies that
// stream, aws-chunked or not. S3 requests are verified and their bodies
// read with one call:
//
//	a, err := sigv4.Parse(r)              // as above
//	secret, ok := keys.Lookup(a.AccessKeyID)
//	body, err := a.Body(r, secret, time.Now())
//	// err: the signature (the seed signature of a chunked body) is bad.
//	n, err := io.Copy(dst, body)
//	// err: a chunk's signature is bad (Mismatch), the framing is broken or
//	// the length is not the one announced (BadBody), the body's SHA-256 is
//	// not the one signed (PayloadMismatch), or r.Body's own error.
//	trailer := body.Trailer()             // x-amz-checksum-*, after EOF
//
// A request without authentication (Parse returns Missing) that S3 lets
// through, to a public bucket, reads its body with AnonymousBody(r).
//
// Body never holds more than one chunk of the body (at most 16 MiB, the
// clients send 64 KiB) and hands out no byte of a signed chunk before its
// signature is checked. See Body for what each x-amz-content-sha256 value
// gives.
package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	amzFormat  = "20060102T150405Z"
	dateFormat = "20060102"

	// skew is how far the client's clock may be from ours, either way.
	skew = 15 * time.Minute

	// maxExpires is the longest life a presigned request may ask for: a
	// week, as on AWS.
	maxExpires = 604800

	// defaultExpires is the life of a presigned request that does not say.
	// aws-sdk-go-v2 presigns EC2's CopySnapshot PresignedUrl without
	// X-Amz-Expires, and such a URL should live as long as a signed request
	// would.
	defaultExpires = skew

	unsignedPayload = "UNSIGNED-PAYLOAD"
	streamingPrefix = "STREAMING-"

	// The chunked (aws-chunked) payloads of S3 that Body decodes: chunks
	// signed in a chain from the seed signature, the same with a signed
	// trailer, and unsigned chunks with a trailer (the SDKs' default for
	// checksummed uploads over TLS).
	streamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsigned      = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramContentSHA256 = "X-Amz-Content-Sha256"
)

// ServiceS3 is the signing name of S3. A request whose credential scope
// names it is verified by S3's rules rather than those of the other
// services: its path is URI-encoded once and not normalised, its header
// form must carry x-amz-content-sha256, its presigned form signs
// UNSIGNED-PAYLOAD unless it says otherwise, and its body may be
// aws-chunked (see Body).
const ServiceS3 = "s3"

var streamingPayloads = map[string]bool{streamingSigned: true, streamingSignedTrailer: true, streamingUnsigned: true}

// s3Payload is the payload hash an S3 request signed when it carries no
// x-amz-content-sha256 header: a presigned URL's X-Amz-Content-Sha256
// query parameter, or else UNSIGNED-PAYLOAD, as the S3 presigners sign.
// The header form must send the header, as S3 requires.
func s3Payload(a *Auth, ps []param) (string, error) {
	if !a.Presigned {
		return "", fail(Incomplete, "Missing required header for this request: x-amz-content-sha256")
	}
	for _, p := range ps {
		if p.key == paramContentSHA256 {
			if strings.HasPrefix(p.value, streamingPrefix) || p.value == "" {
				return "", fail(Unsupported, fmt.Sprintf("X-Amz-Content-Sha256 '%s' is not supported in a presigned URL.", clip(p.value)))
			}
			return p.value, nil
		}
	}
	return unsignedPayload, nil
}

// Auth is the parsed, not yet verified, authentication of a request. Every
// field is as the client sent it: nothing here is trustworthy until Verify
// has returned nil.
type Auth struct {
	// AccessKeyID names the key the client claims to have signed with.
	AccessKeyID string
	// Date is the signing time, from X-Amz-Date (or the Date header), UTC.
	Date time.Time
	// Region is the credential scope's region, checked only for its shape.
	Region string
	// Service is the credential scope's service, checked only for its
	// shape: the caller must check it names the service it serves.
	Service string
	// SignedHeaders are the lowercase names of the signed headers, in the
	// order the client listed them; "host" is always among them.
	SignedHeaders []string
	// Signature is the hex signature the client sent.
	Signature string
	// Presigned reports the query-string form.
	Presigned bool
	// Expires is the life of a presigned request, from X-Amz-Expires, or
	// 15 minutes when the client did not say; zero in the header form.
	Expires time.Duration
}

// Parse extracts the SigV4 parameters of r without verifying anything
// cryptographic, and without reading r.Body. It returns an *Error whose
// Failure is Missing when r carries no authentication, Unsupported for
// another algorithm or a STREAMING-* payload, and Incomplete when a part is
// missing or malformed (including a request carrying both forms).
func Parse(r *http.Request) (*Auth, error) {
	authz := r.Header.Values("Authorization")
	ps, qerr := parseQuery(r.URL.RawQuery)
	presigned := hasAny(ps, paramAlgorithm, paramCredential, paramSignature)

	var (
		a   *Auth
		err error
	)
	switch {
	case len(authz) > 0 && presigned:
		return nil, fail(Incomplete, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case len(authz) > 1:
		return nil, fail(Incomplete, "Only one Authorization header allowed.")
	case len(authz) == 1:
		a, err = parseHeader(r, authz[0])
	case qerr != nil:
		// Presigned parameters may hide behind the bad escape; the
		// client should hear what is wrong rather than "missing".
		if strings.Contains(r.URL.RawQuery, "X-Amz-") {
			return nil, fail(Incomplete, "The query string is malformed.")
		}
		return nil, fail(Missing, msgMissing)
	case presigned:
		a, err = parsePresigned(ps)
	default:
		return nil, fail(Missing, msgMissing)
	}
	if err != nil {
		return nil, err
	}
	if _, err := contentSHA256(r, a); err != nil {
		return nil, err
	}
	return a, nil
}

// parseHeader parses the Authorization header form:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
//
// Components may be separated by commas, spaces or both, in any order.
func parseHeader(r *http.Request, authz string) (*Auth, error) {
	authz = strings.TrimSpace(authz)
	alg, rest, _ := strings.Cut(authz, " ")
	if alg != algorithm {
		return nil, fail(Unsupported, fmt.Sprintf("Unsupported authorization type: %s. Only %s is supported.", clip(alg), algorithm))
	}
	fields := map[string]string{}
	for _, tok := range strings.FieldsFunc(rest, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return nil, fail(Incomplete, fmt.Sprintf("'%s' not a valid key=value pair (missing equal-sign) in Authorization header.", clip(tok)))
		}
		switch k {
		case "Credential", "SignedHeaders", "Signature":
			if _, dup := fields[k]; dup {
				return nil, fail(Incomplete, fmt.Sprintf("Authorization header has '%s' more than once.", k))
			}
			fields[k] = v
		}
		// Other components are ignored, as AWS ignores them.
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return nil, fail(Incomplete, strings.Join(missing, " "))
	}

	a := &Auth{Signature: fields["Signature"]}
	if err := a.setDate(r); err != nil {
		return nil, err
	}
	if err := a.setCredential(fields["Credential"]); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(fields["SignedHeaders"]); err != nil {
		return nil, err
	}
	return a, nil
}

// setDate reads the signing time of the header form: X-Amz-Date, or the
// HTTP Date header when X-Amz-Date is absent.
func (a *Auth) setDate(r *http.Request) error {
	if v := r.Header.Values(paramDate); len(v) > 0 {
		if len(v) > 1 {
			return fail(Incomplete, "Only one X-Amz-Date header allowed.")
		}
		t, err := parseAmzDate(v[0])
		if err != nil {
			return err
		}
		a.Date = t
		return nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return fail(Incomplete, "Date must be in RFC 1123 format.")
		}
		a.Date = t.UTC().Truncate(time.Second)
		return nil
	}
	return fail(Incomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// parsePresigned parses the query-string form.
func parsePresigned(ps []param) (*Auth, error) {
	vals := map[string]string{}
	var missing []string
	for _, k := range []string{paramAlgorithm, paramCredential, paramSignature, paramSignedHeaders, paramDate, paramExpires} {
		var n int
		for _, p := range ps {
			if p.key == k {
				vals[k] = p.value
				n++
			}
		}
		switch {
		case n > 1:
			return nil, fail(Incomplete, fmt.Sprintf("AWS query-string parameters must include '%s' only once.", k))
		case n == 0 && k != paramExpires:
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		var b strings.Builder
		for _, k := range missing {
			b.WriteString("AWS query-string parameters must include '" + k + "'. ")
		}
		b.WriteString("Re-examine the query-string parameters.")
		return nil, fail(Incomplete, b.String())
	}
	if vals[paramAlgorithm] != algorithm {
		return nil, fail(Unsupported, "X-Amz-Algorithm only supports \""+algorithm+"\"")
	}

	a := &Auth{Signature: vals[paramSignature], Presigned: true, Expires: defaultExpires}
	if vals[paramSignature] == "" {
		return nil, fail(Incomplete, "AWS query-string parameters must include a non-empty 'X-Amz-Signature'.")
	}
	t, err := parseAmzDate(vals[paramDate])
	if err != nil {
		return nil, err
	}
	a.Date = t
	if v, ok := vals[paramExpires]; ok {
		if a.Expires, err = parseExpires(v); err != nil {
			return nil, err
		}
	}
	if err := a.setCredential(vals[paramCredential]); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(vals[paramSignedHeaders]); err != nil {
		return nil, err
	}
	return a, nil
}

// parseExpires reads X-Amz-Expires: whole seconds, 1 to a week.
func parseExpires(v string) (time.Duration, error) {
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fail(Incomplete, "X-Amz-Expires should be a number")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxExpires {
		return 0, fail(Incomplete, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	if n < 1 {
		return 0, fail(Incomplete, "X-Amz-Expires must be positive")
	}
	return time.Duration(n) * time.Second, nil
}

// parseAmzDate reads the ISO 8601 basic format SigV4 signs with. It
// insists on the exact form, since time.Parse would also take fractional
// seconds that the client would not have signed the same way.
func parseAmzDate(v string) (time.Time, error) {
	t, err := time.Parse(amzFormat, v)
	if err != nil || t.Format(amzFormat) != v {
		return time.Time{}, fail(Incomplete, msgBadDate)
	}
	return t, nil
}

// setCredential splits AKID/YYYYMMDD/region/service/aws4_request and checks
// its date against a.Date, which must already be set.
func (a *Auth) setCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return fail(Incomplete, fmt.Sprintf("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", clip(cred)))
	}
	akid, date, region, service, term := parts[0], parts[1], parts[2], parts[3], parts[4]
	if len(date) != 8 || strings.TrimLeft(date, "0123456789") != "" {
		return fail(Incomplete, "Invalid credential date. Date is not the required format: yyyyMMdd.")
	}
	if !scopeName(region) {
		return fail(Incomplete, fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", clip(region)))
	}
	if !scopeName(service) {
		return fail(Incomplete, fmt.Sprintf("Credential should be scoped to a valid service, not '%s'.", clip(service)))
	}
	if term != terminator {
		return fail(Incomplete, fmt.Sprintf("Credential should be scoped with a valid terminator: '%s', not '%s'.", terminator, clip(term)))
	}
	if want := a.Date.Format(dateFormat); date != want {
		return fail(Incomplete, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			date, want, a.Date.Format(amzFormat)))
	}
	a.AccessKeyID, a.Region, a.Service = akid, region, service
	return nil
}

// scopeName reports whether s can be a region or service name: lowercase
// letters, digits and hyphens. Whether it is one this server serves is the
// caller's question.
func scopeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// setSignedHeaders splits the semicolon-separated list. Host must be signed:
// otherwise a request could be replayed against another endpoint.
func (a *Auth) setSignedHeaders(list string) error {
	if list == "" {
		return fail(Incomplete, "Authorization header requires 'SignedHeaders' parameter.")
	}
	names := strings.Split(strings.ToLower(list), ";")
	host := false
	for _, n := range names {
		if n == "" {
			return fail(Incomplete, fmt.Sprintf("SignedHeaders '%s' contains an empty header name.", clip(list)))
		}
		if n == "host" || n == ":authority" {
			host = true
		}
	}
	if !host {
		return fail(Incomplete, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	a.SignedHeaders = names
	return nil
}

// Verify checks a's signature over r with the secret key, then the time.
// It does not read r.Body: payloadHash is the lowercase hex SHA-256 of the
// body the caller read, or "UNSIGNED-PAYLOAD" if the caller did not read it.
// When r carries x-amz-content-sha256, that header's value is what the
// client signed, and unless it is UNSIGNED-PAYLOAD it must equal
// payloadHash. now is the server's clock: a header-form request is valid
// within 15 minutes either side of its date; a presigned one from 15
// minutes before its date until its date plus Expires.
//
// A request scoped to service s3 (ServiceS3) is checked by S3's rules:
// the path is encoded once, never normalised; the header form must carry
// x-amz-content-sha256; a presigned URL without X-Amz-Content-Sha256
// signed UNSIGNED-PAYLOAD; a STREAMING-* header value is the seed
// signature's payload, and the chunks are left to Body. S3 callers
// should call Body, which calls Verify, rather than Verify itself.
//
// It returns nil when the signature is good and the time is within the
// window, or else an *Error whose Failure is Mismatch (wrong signature, or a
// body that is not the one x-amz-content-sha256 describes), Expired
// (outside the window; checked only after the signature, so that only a
// holder of the key learns the request was merely late), Unsupported (a
// STREAMING-* payload), Incomplete (a query string that does not decode, or
// an Auth lacking its scope or signed headers) or Missing (a nil Auth).
func (a *Auth) Verify(r *http.Request, secret, payloadHash string, now time.Time) error {
	if a == nil {
		return fail(Missing, msgMissing)
	}
	if a.Region == "" || a.Service == "" || len(a.SignedHeaders) == 0 {
		return fail(Incomplete, "Credential scope and SignedHeaders are required.")
	}
	payload, err := contentSHA256(r, a)
	if err != nil {
		return err
	}
	ps, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return fail(Incomplete, "The query string is malformed.")
	}
	s3 := a.Service == ServiceS3
	if payload == "" && s3 {
		if payload, err = s3Payload(a, ps); err != nil {
			return err
		}
	}
	checkPayload := payload != "" && payload != unsignedPayload && !strings.HasPrefix(payload, streamingPrefix)
	if payload == "" {
		payload = payloadHash
	}

	date := a.Date.UTC()
	amzDate := date.Format(amzFormat)
	scope := date.Format(dateFormat) + "/" + a.Region + "/" + a.Service + "/" + terminator
	key := signingKey(secret, date.Format(dateFormat), a.Region, a.Service)
	query := canonicalQuery(ps, a.Presigned)
	headers := canonicalHeaders(r, a.SignedHeaders)

	good := false
	uris := canonicalURIs
	if s3 {
		uris = canonicalURIsS3
	}
	for _, uri := range uris(r.URL) {
		cr := canonicalRequest(r.Method, uri, query, headers, a.SignedHeaders, payload)
		sig := hex.EncodeToString(hmacSHA256(key, stringToSign(amzDate, scope, cr)))
		// Constant time, so that response timing does not reveal how
		// many leading bytes of a forged signature were right.
		if hmac.Equal([]byte(sig), []byte(a.Signature)) {
			good = true
			break
		}
	}
	if !good {
		return fail(Mismatch, msgMismatch)
	}
	// The header was signed, so the client vouched for it; the body must
	// still be the one it described.
	if checkPayload && !strings.EqualFold(payload, payloadHash) {
		return fail(Mismatch, msgPayloadMismatch)
	}
	return a.checkTime(now)
}

// checkTime applies the clock-skew window, or the presigned lifetime.
func (a *Auth) checkTime(now time.Time) error {
	now = now.UTC()
	date := a.Date.UTC()
	if earliest := date.Add(-skew); now.Before(earliest) {
		return fail(Expired, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			date.Format(amzFormat), now.Add(skew).Format(amzFormat), now.Format(amzFormat)))
	}
	if a.Presigned {
		if now.After(date.Add(a.Expires)) {
			return fail(Expired, msgPresignExpired)
		}
		return nil
	}
	if now.After(date.Add(skew)) {
		return fail(Expired, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			date.Format(amzFormat), now.Add(-skew).Format(amzFormat), now.Format(amzFormat)))
	}
	return nil
}

// contentSHA256 returns the x-amz-content-sha256 header, "" when absent.
// The STREAMING-* chunked encodings are accepted for S3 in the header form
// only (Body decodes and verifies them); for any other service, or an
// encoding this package does not decode (SigV4A's ECDSA chunks), they are
// Unsupported rather than accepted unchecked.
func contentSHA256(r *http.Request, a *Auth) (string, error) {
	v := r.Header.Values("X-Amz-Content-Sha256")
	switch {
	case len(v) == 0:
		return "", nil
	case len(v) > 1:
		return "", fail(Incomplete, "Only one x-amz-content-sha256 header allowed.")
	case strings.HasPrefix(v[0], streamingPrefix):
		if a.Service != ServiceS3 || a.Presigned || !streamingPayloads[v[0]] {
			return "", fail(Unsupported, fmt.Sprintf("x-amz-content-sha256 '%s' is not supported; send the body in one piece.", clip(v[0])))
		}
	case v[0] == "":
		return "", fail(Incomplete, "x-amz-content-sha256 must not be empty.")
	}
	return v[0], nil
}

func hasAny(ps []param, keys ...string) bool {
	for _, p := range ps {
		for _, k := range keys {
			if p.key == k {
				return true
			}
		}
	}
	return false
}

// clip bounds client-supplied text echoed in an error message, so a hostile
// header cannot make the response arbitrarily large.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "..."
}

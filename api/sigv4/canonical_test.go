package sigv4

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestURIEncode(t *testing.T) {
	for _, c := range []struct {
		in        string
		keepSlash bool
		want      string
	}{
		{"AZaz09-_.~", false, "AZaz09-_.~"},
		{"a b", false, "a%20b"},
		{"a+b", false, "a%2Bb"},
		{"a/b", false, "a%2Fb"},
		{"a/b", true, "a/b"},
		{"é", false, "%C3%A9"},
		{"*", false, "%2A"},
		{"/a%2Fb", true, "/a%252Fb"},
		{"=&", false, "%3D%26"},
	} {
		if got := uriEncode(c.in, c.keepSlash); got != c.want {
			t.Errorf("uriEncode(%q, %v) = %q, want %q", c.in, c.keepSlash, got, c.want)
		}
	}
}

func TestRemoveDotSegments(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "/",
		"/":                 "/",
		"/a/b":              "/a/b",
		"/a/b/":             "/a/b/",
		"//a//b":            "/a/b",
		"/a/./b/../c":       "/a/c",
		"/..":               "/",
		"/a/..":             "/",
		"/a/%2E%2E/b":       "/a/%2E%2E/b", // escaped dots are data
		"/snapshots//snap/": "/snapshots/snap/",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	for _, c := range []struct {
		raw       string
		presigned bool
		want      string
	}{
		{"", false, ""},
		{"b=2&a=1", false, "a=1&b=2"},
		{"a=2&a=1", false, "a=1&a=2"},
		// Sorted after encoding: "a%2Fb" < "a-b" although "a-b" < "a/b".
		{"x=a-b&x=a%2Fb", false, "x=a%2Fb&x=a-b"},
		{"flag&empty=", false, "empty=&flag="},
		{"q=a+b&r=a%20b", false, "q=a%20b&r=a%20b"},
		{"k=%7E~", false, "k=~~"},
		{"&&a=1&&", false, "a=1"},
		{"a=1&X-Amz-Signature=ff", true, "a=1"},
		{"a=1&X-Amz-Signature=ff", false, "X-Amz-Signature=ff&a=1"},
	} {
		ps, err := parseQuery(c.raw)
		if err != nil {
			t.Fatalf("parseQuery(%q): %v", c.raw, err)
		}
		if got := canonicalQuery(ps, c.presigned); got != c.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	if _, err := parseQuery("a=%zz"); err == nil {
		t.Errorf("parseQuery accepted a bad escape")
	}
}

func TestCanonicalHeaders(t *testing.T) {
	r := &http.Request{
		Host:             "ec2.openami.test:4566",
		URL:              &url.URL{Path: "/"},
		ContentLength:    12,
		TransferEncoding: []string{"chunked"},
		Header: http.Header{
			"X-Amz-Date": {"20260101T120000Z"},
			"X-Multi":    {"  a   b ", "c"},
			"x_odd":      {"v"}, // as stored for a name textproto leaves alone
		},
	}
	got := canonicalHeaders(r, []string{"content-length", "host", "transfer-encoding", "x-amz-date", "x-missing", "x-multi", "x_odd"})
	want := "content-length:12\nhost:ec2.openami.test:4566\ntransfer-encoding:chunked\n" +
		"x-amz-date:20260101T120000Z\nx-missing:\nx-multi:a b,c\nx_odd:v\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if r.Header["X-Multi"][0] != "  a   b " {
		t.Errorf("canonicalHeaders modified r.Header")
	}
}

func TestTrimAll(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"a":              "a",
		"  a  ":          "a",
		"a    b   c":     "a b c",
		"\ta \t  b\t":    "a \t b",
		"a\u00a0b":       "a\u00a0b",
		" x  y z  ":      "x y z",
		"single spaced ": "single spaced",
	} {
		if got := trimAll(in); got != want {
			t.Errorf("trimAll(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseAuthorization covers the header variants clients emit and the
// ways a header can be malformed.
func TestParseAuthorization(t *testing.T) {
	const (
		cred = "Credential=AKID/20260101/us-east-1/ec2/aws4_request"
		sh   = "SignedHeaders=host;x-amz-date"
		sig  = "Signature=abcdef"
	)
	good := &Auth{
		AccessKeyID: "AKID", Date: signTime, Region: "us-east-1", Service: "ec2",
		SignedHeaders: []string{"host", "x-amz-date"}, Signature: "abcdef",
	}
	for _, c := range []struct {
		name  string
		authz string
		date  string // X-Amz-Date; "-" for none
		want  Failure
		msg   string // a substring of the message
	}{
		{name: "sdk style", authz: "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig},
		{name: "no spaces", authz: "AWS4-HMAC-SHA256 " + cred + "," + sh + "," + sig},
		{name: "spaces only", authz: "AWS4-HMAC-SHA256 " + cred + " " + sh + " " + sig},
		{name: "reordered", authz: "AWS4-HMAC-SHA256 " + sig + ", " + cred + ", " + sh},
		{name: "extra spaces", authz: "  AWS4-HMAC-SHA256   " + cred + " ,  " + sh + " ,\t" + sig + "  "},
		{name: "unknown component ignored", authz: "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Foo=bar, " + sig},
		{name: "uppercase signed headers", authz: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host;X-Amz-Date, " + sig},
		{name: "algorithm only", authz: "AWS4-HMAC-SHA256", want: Incomplete, msg: "requires 'Credential'"},
		{name: "no signature", authz: "AWS4-HMAC-SHA256 " + cred + ", " + sh, want: Incomplete, msg: "requires 'Signature'"},
		{name: "empty signature", authz: "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=", want: Incomplete, msg: "requires 'Signature'"},
		{name: "no signed headers", authz: "AWS4-HMAC-SHA256 " + cred + ", " + sig, want: Incomplete, msg: "requires 'SignedHeaders'"},
		{name: "duplicate", authz: "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + sh + ", " + sig, want: Incomplete, msg: "more than once"},
		{name: "no equals", authz: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders, " + sig, want: Incomplete, msg: "missing equal-sign"},
		{name: "short credential", authz: "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/aws4_request, " + sh + ", " + sig, want: Incomplete, msg: "5 slash-delimited"},
		{name: "empty access key", authz: "AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/ec2/aws4_request, " + sh + ", " + sig, want: Incomplete, msg: "5 slash-delimited"},
		{name: "bad credential date", authz: "AWS4-HMAC-SHA256 Credential=AKID/2026-1-1/us-east-1/ec2/aws4_request, " + sh + ", " + sig, want: Incomplete, msg: "yyyyMMdd"},
		{name: "scope date mismatch", authz: "AWS4-HMAC-SHA256 Credential=AKID/20260102/us-east-1/ec2/aws4_request, " + sh + ", " + sig, want: Incomplete, msg: "'20260102' != '20260101'"},
		{name: "empty region", authz: "AWS4-HMAC-SHA256 Credential=AKID/20260101//ec2/aws4_request, " + sh + ", " + sig, want: Incomplete, msg: "valid region"},
		{name: "bad service", authz: "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/EC2/aws4_request, " + sh + ", " + sig, want: Incomplete, msg: "valid service"},
		{name: "bad terminator", authz: "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws5_request, " + sh + ", " + sig, want: Incomplete, msg: "terminator"},
		{name: "host not signed", authz: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date, " + sig, want: Incomplete, msg: "'Host'"},
		{name: "empty header name", authz: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, " + sig, want: Incomplete, msg: "empty header name"},
		{name: "no date", authz: "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig, date: "-", want: Incomplete, msg: "'X-Amz-Date' or a 'Date'"},
		{name: "fractional date", authz: "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig, date: "20260101T120000.5Z", want: Incomplete, msg: "ISO8601"},
		{name: "sigv2", authz: "AWS AKID:c2ln", want: Unsupported},
		{name: "sigv4a", authz: "AWS4-ECDSA-P256-SHA256 " + cred + ", " + sh + ", " + sig, want: Unsupported},
		{name: "bearer", authz: "Bearer token", want: Unsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Host: "h", Header: http.Header{"Authorization": {c.authz}}}
			switch c.date {
			case "":
				r.Header.Set("X-Amz-Date", "20260101T120000Z")
			case "-":
			default:
				r.Header.Set("X-Amz-Date", c.date)
			}
			a, err := Parse(r)
			if got := failureOf(t, err); got != c.want {
				t.Fatalf("got %v (%v), want %v", got, err, c.want)
			}
			if err != nil {
				if !strings.Contains(err.Error(), c.msg) {
					t.Errorf("message %q lacks %q", err, c.msg)
				}
				return
			}
			if !reflect.DeepEqual(a, good) {
				t.Errorf("got %+v, want %+v", a, good)
			}
		})
	}
}

func TestParseDateHeader(t *testing.T) {
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Host: "h", Header: http.Header{
		"Authorization": {"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=date;host, Signature=ab"},
		"Date":          {"Thu, 01 Jan 2026 12:00:00 GMT"},
	}}
	a, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Date.Equal(signTime) {
		t.Errorf("date %v", a.Date)
	}
}

func TestParsePresigned(t *testing.T) {
	base := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":    {"AKID/20260101/us-east-1/sts/aws4_request"},
		"X-Amz-Date":          {"20260101T120000Z"},
		"X-Amz-Expires":       {"60"},
		"X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature":     {"ab"},
	}
	for _, c := range []struct {
		name   string
		edit   func(url.Values)
		want   Failure
		expiry time.Duration
	}{
		{name: "good", edit: func(url.Values) {}, expiry: time.Minute},
		{name: "no expires", edit: func(q url.Values) { q.Del("X-Amz-Expires") }, expiry: 15 * time.Minute},
		{name: "week", edit: func(q url.Values) { q.Set("X-Amz-Expires", "604800") }, expiry: 7 * 24 * time.Hour},
		{name: "over a week", edit: func(q url.Values) { q.Set("X-Amz-Expires", "604801") }, want: Incomplete},
		{name: "zero expires", edit: func(q url.Values) { q.Set("X-Amz-Expires", "0") }, want: Incomplete},
		{name: "negative expires", edit: func(q url.Values) { q.Set("X-Amz-Expires", "-1") }, want: Incomplete},
		{name: "huge expires", edit: func(q url.Values) { q.Set("X-Amz-Expires", "99999999999999999999999") }, want: Incomplete},
		{name: "no signature", edit: func(q url.Values) { q.Del("X-Amz-Signature") }, want: Incomplete},
		{name: "empty signature", edit: func(q url.Values) { q.Set("X-Amz-Signature", "") }, want: Incomplete},
		{name: "two signatures", edit: func(q url.Values) { q.Add("X-Amz-Signature", "cd") }, want: Incomplete},
		{name: "no credential", edit: func(q url.Values) { q.Del("X-Amz-Credential") }, want: Incomplete},
		{name: "no date", edit: func(q url.Values) { q.Del("X-Amz-Date") }, want: Incomplete},
		{name: "no signed headers", edit: func(q url.Values) { q.Del("X-Amz-SignedHeaders") }, want: Incomplete},
		{name: "host not signed", edit: func(q url.Values) { q.Set("X-Amz-SignedHeaders", "x-amz-date") }, want: Incomplete},
		{name: "no algorithm", edit: func(q url.Values) { q.Del("X-Amz-Algorithm") }, want: Incomplete},
		{name: "other algorithm", edit: func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256") }, want: Unsupported},
		{name: "scope date mismatch", edit: func(q url.Values) { q.Set("X-Amz-Date", "20260102T000000Z") }, want: Incomplete},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = append([]string(nil), v...)
			}
			c.edit(q)
			r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: q.Encode()}, Host: "h", Header: http.Header{}}
			a, err := Parse(r)
			if got := failureOf(t, err); got != c.want {
				t.Fatalf("got %v (%v), want %v", got, err, c.want)
			}
			if err == nil && (!a.Presigned || a.Expires != c.expiry || a.Service != "sts") {
				t.Errorf("parsed %+v", a)
			}
		})
	}
}

func TestParseMissing(t *testing.T) {
	for _, raw := range []string{"", "Action=DescribeImages&Version=2016-11-15", "a=%zz"} {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: raw}, Host: "h", Header: http.Header{}}
		_, err := Parse(r)
		if got := failureOf(t, err); got != Missing {
			t.Errorf("query %q: got %v, want Missing", raw, got)
		}
	}
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: "X-Amz-Signature=%zz"}, Host: "h", Header: http.Header{}}
	if _, err := Parse(r); failureOf(t, err) != Incomplete {
		t.Errorf("bad escape in presigned query: %v", err)
	}
	var a *Auth
	if err := a.Verify(r, "s", emptyHash, signTime); failureOf(t, err) != Missing {
		t.Errorf("nil Auth: %v", err)
	}
}

func TestFailureStrings(t *testing.T) {
	for f := Missing; f <= Unsupported; f++ {
		if f.String() == "" || strings.HasPrefix(f.String(), "Failure(") || !strings.HasPrefix(f.Error(), "sigv4: ") {
			t.Errorf("%d: %q %q", int(f), f.String(), f.Error())
		}
	}
	if Failure(42).String() != "Failure(42)" {
		t.Errorf("unknown failure: %q", Failure(42).String())
	}
}

package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// verifier is an httptest handler that authenticates every request as the
// API layer will, and remembers what it decided.
type verifier struct {
	mu     sync.Mutex
	errs   []error
	passed int
	reply  func(w http.ResponseWriter, r *http.Request)
}

func (v *verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		var a *Auth
		if a, err = Parse(r); err == nil {
			err = a.Verify(r, testSecret, sha256Hex(body), time.Now())
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.errs = append(v.errs, err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	v.passed++
	v.reply(w, r)
}

func (v *verifier) check(t *testing.T, want int) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, err := range v.errs {
		t.Errorf("server rejected a request: %v", err)
	}
	if v.passed != want {
		t.Errorf("%d requests verified, want %d", v.passed, want)
	}
}

// TestGoSDKClients drives the real EC2 and STS clients of aws-sdk-go-v2,
// with all their middleware, against a server that verifies each request.
func TestGoSDKClients(t *testing.T) {
	v := &verifier{reply: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		switch {
		case strings.Contains(r.URL.RawQuery, "CopySnapshot"):
			io.WriteString(w, `<CopySnapshotResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><snapshotId>snap-2</snapshotId></CopySnapshotResponse>`)
		case strings.Contains(r.Header.Get("Authorization"), "/sts/"):
			io.WriteString(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/u</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
		default:
			io.WriteString(w, `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><imagesSet/></DescribeImagesResponse>`)
		}
	}}
	srv := httptest.NewServer(v)
	defer srv.Close()
	ctx := context.Background()
	provider := credentials.NewStaticCredentialsProvider(testAKID, testSecret, "")

	ec2c := ec2.New(ec2.Options{
		Region: "us-east-1", Credentials: provider, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
	})
	_, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{"my image/v1 ~ é*"}}},
	})
	if err != nil {
		t.Errorf("DescribeImages: %v", err)
	}

	stsc := sts.New(sts.Options{
		Region: "us-east-1", Credentials: provider, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
	})
	if _, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity: %v", err)
	}

	// The URL EC2 clients put in CopySnapshot's PresignedUrl for an
	// encrypted cross-region copy: presigned, without X-Amz-Expires.
	pre, err := ec2.NewPresignClient(ec2c).PresignCopySnapshot(ctx, &ec2.CopySnapshotInput{
		SourceRegion: aws.String("us-east-1"), SourceSnapshotId: aws.String("snap-1"),
	})
	if err != nil {
		t.Fatalf("PresignCopySnapshot: %v", err)
	}
	if strings.Contains(pre.URL, "X-Amz-Expires") {
		t.Logf("PresignCopySnapshot now sets X-Amz-Expires: %s", pre.URL)
	}
	req, err := http.NewRequest(pre.Method, pre.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range pre.SignedHeader {
		if k != "Host" {
			req.Header[k] = vs
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	v.check(t, 3)
}

// botocoreScript signs each case it is given with botocore's own SigV4Auth
// or SigV4QueryAuth and prints the request as it would go on the wire.
const botocoreScript = `
import base64, json, sys
from urllib.parse import urlsplit
from botocore.auth import SigV4Auth, SigV4QueryAuth, _host_from_url
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

creds = Credentials(sys.argv[1], sys.argv[2])
out = []
for c in json.load(sys.stdin):
    req = AWSRequest(method=c["method"], url=c["url"], headers=c.get("headers") or {},
                     params=c.get("params") or {}, data=base64.b64decode(c.get("body", "")))
    if c.get("form"):
        req.data = c["form"]
    if c.get("unsigned"):
        req.context["payload_signing_enabled"] = False
    if c.get("expires"):
        SigV4QueryAuth(creds, c["service"], "us-east-1", expires=c["expires"]).add_auth(req)
    else:
        SigV4Auth(creds, c["service"], "us-east-1").add_auth(req)
    p = req.prepare()
    parts = urlsplit(p.url)
    body = p.body or b""
    if isinstance(body, str):
        body = body.encode()
    out.append({
        "target": parts.path + ("?" + parts.query if parts.query else ""),
        "host": _host_from_url(p.url),
        "method": p.method,
        "headers": [[k, v if isinstance(v, str) else v.decode()] for k, v in p.headers.items()],
        "body": base64.b64encode(body).decode(),
    })
json.dump(out, sys.stdout)
`

type botoCase struct {
	Name     string            `json:"name"`
	Method   string            `json:"method"`
	URL      string            `json:"url"`
	Service  string            `json:"service"`
	Headers  map[string]string `json:"headers,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	Form     map[string]string `json:"form,omitempty"`
	Body     string            `json:"body,omitempty"`
	Unsigned bool              `json:"unsigned,omitempty"`
	Expires  int               `json:"expires,omitempty"`
}

type botoRequest struct {
	Target  string      `json:"target"`
	Host    string      `json:"host"`
	Method  string      `json:"method"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
}

// TestBotocore signs requests with the botocore on this machine, which the
// aws CLI v1 and boto3 use, and verifies them. Its path and query rules
// differ from aws-sdk-go-v2's in ways the Go signer cannot show: it
// normalises dot segments and empty path segments, and it signs the query
// string as it encoded it.
func TestBotocore(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed: botocore cases not run")
	}
	if err := exec.Command("python3", "-c", "import botocore.auth").Run(); err != nil {
		t.Skip("botocore not importable: botocore cases not run")
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []botoCase{
		{Name: "ec2 form post", Method: "POST", URL: "http://localhost:4566/", Service: "ec2",
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
			Form:    map[string]string{"Action": "DescribeImages", "Version": "2016-11-15", "Filter.1.Value.1": "a b/c"}},
		{Name: "get with awkward params", Method: "GET", URL: "http://localhost:4566/", Service: "ec2",
			Params: map[string]string{"Action": "DescribeImages", "Filter.1.Value.1": "a b/c=d~é*", "x": "a+b", "✓": "😀", "y": "a-b"}},
		{Name: "ebs put unsigned over https", Method: "PUT", URL: "https://localhost:4566/snapshots/snap-0123/blocks/5", Service: "ebs",
			Unsigned: true, Body: b64(strings.Repeat("x", 1000)),
			Headers: map[string]string{"Content-Type": "application/octet-stream", "x-amz-Checksum": "abc=", "x-amz-Data-Length": "1000"}},
		{Name: "ebs put unsigned over http", Method: "PUT", URL: "http://localhost:4566/snapshots/snap-0123/blocks/6", Service: "ebs",
			Unsigned: true, Body: b64("y")},
		{Name: "ebs dot segments and double slash", Method: "GET", URL: "http://localhost:4566/snapshots//snap-1/./x/../blocks?maxResults=10", Service: "ebs"},
		{Name: "ebs escaped path", Method: "GET", URL: "http://localhost:4566/snapshots/snap%2F1/blocks/a%20b~c", Service: "ebs"},
		{Name: "kms json post", Method: "POST", URL: "http://localhost:4566/", Service: "kms", Body: b64(`{"KeyId":"alias/k"}`),
			Headers: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt", "X-Meta": "a   b  "}},
		{Name: "sts presigned", Method: "GET", URL: "http://localhost:4566/?Action=GetCallerIdentity&Version=2011-06-15", Service: "sts", Expires: 900},
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", botocoreScript, testAKID, testSecret)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, stderr.String())
	}
	var reqs []botoRequest
	if err := json.Unmarshal(out, &reqs); err != nil {
		t.Fatal(err)
	}
	if len(reqs) != len(cases) {
		t.Fatalf("%d requests for %d cases", len(reqs), len(cases))
	}
	for i, br := range reqs {
		t.Run(cases[i].Name, func(t *testing.T) {
			body, err := base64.StdEncoding.DecodeString(br.Body)
			if err != nil {
				t.Fatal(err)
			}
			var wire bytes.Buffer
			wire.WriteString(br.Method + " " + br.Target + " HTTP/1.1\r\nHost: " + br.Host + "\r\n")
			for _, h := range br.Headers {
				if !strings.EqualFold(h[0], "Content-Length") {
					wire.WriteString(h[0] + ": " + h[1] + "\r\n")
				}
			}
			if len(body) > 0 {
				wire.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
			}
			wire.WriteString("\r\n")
			wire.Write(body)
			r, err := http.ReadRequest(bufio.NewReader(&wire))
			if err != nil {
				t.Fatal(err)
			}
			hash := readBody(t, r)
			err = check(r, testSecret, hash, time.Now())
			if err != nil {
				var e *Error
				errors.As(err, &e)
				t.Fatalf("%v: %v\n%+v", e.Failure, err, br)
			}
		})
	}
}

package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami/api/s3/checksum"
)

// boto3Script drives boto3's S3 client at the endpoint given, with the
// CA file given (or plain HTTP), and prints what it did as JSON. Over
// HTTPS boto3 sends checksummed bodies as aws-chunked with a trailer;
// over HTTP it signs their SHA-256 and sends the checksum as a header.
const boto3Script = `
import io, json, ssl, sys, urllib.request
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, cafile, akid, secret = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=akid, aws_secret_access_key=secret,
                  verify=cafile or None,
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                retries={"max_attempts": 1}))
data = bytes(range(256)) * 4000
out = {}
from botocore.compat import HAS_CRT
# CRC32C and CRC64NVME need awscrt (botocore[crt]).
for alg in ["CRC32", "SHA1", "SHA256"] + (["CRC32C", "CRC64NVME"] if HAS_CRT else []):
    r = s3.put_object(Bucket="bucket", Key="boto/" + alg + "/a b~é", Body=data, ChecksumAlgorithm=alg)
    out[alg] = r["ETag"]
s3.put_object(Bucket="bucket", Key="boto/default/./a//b/../c %2F+", Body=io.BytesIO(data))
cfg = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, use_threads=False)
s3.upload_fileobj(io.BytesIO(data * 12), "bucket", "boto/multipart", Config=cfg)
s3.upload_fileobj(io.BytesIO(data), "bucket", "boto/small", Config=cfg)

ctx = ssl.create_default_context(cafile=cafile) if cafile else None
put = s3.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": "boto/presigned"}, ExpiresIn=604800)
urllib.request.urlopen(urllib.request.Request(put, data=data, method="PUT"), context=ctx).read()
get = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "boto/presigned",
                                "ResponseContentType": "application/x-test"}, ExpiresIn=3600)
resp = urllib.request.urlopen(get, context=ctx)
out["get"] = resp.read() == data
out["content_type"] = resp.headers["Content-Type"]
json.dump(out, sys.stdout)
`

// TestBoto3S3 drives boto3 (and s3transfer, which the aws CLI's "s3 cp"
// uses too) against the verifying server, over HTTPS and plain HTTP.
func TestBoto3S3(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed: boto3 cases not run")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 not importable: boto3 cases not run")
	}
	data := bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), 4000)
	for _, tls := range []bool{true, false} {
		h := &s3Server{}
		var srv *httptest.Server
		caFile := ""
		if tls {
			srv = httptest.NewTLSServer(h)
			caFile = filepath.Join(t.TempDir(), "ca.pem")
			cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			if err := os.WriteFile(caFile, cert, 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			srv = httptest.NewServer(h)
		}
		// The certificate names 127.0.0.1, as does the URL.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "python3", "-c", boto3Script, srv.URL, caFile, testAKID, testSecret)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		srv.Close()
		ups := h.check(t)
		if err != nil {
			t.Fatalf("tls=%v boto3: %v\n%s", tls, err, stderr.String())
		}
		var res map[string]any
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		if res["get"] != true || res["content_type"] != "application/x-test" {
			t.Errorf("tls=%v presigned GET: %v", tls, res)
		}
		var chunked, parts int
		dotted := false
		for _, up := range ups {
			// S3 keys keep their dot segments and empty segments.
			dotted = dotted || up.path == "/bucket/boto/default/./a//b/../c %2F+"
			switch {
			case strings.HasPrefix(up.path, "/bucket/boto/") && strings.Contains(up.path, "/a b~é"):
				alg := strings.Split(up.path, "/")[3]
				if !bytes.Equal(up.body, data) || string(up.alg) != alg || up.sum != up.alg.Sum(data) {
					t.Errorf("tls=%v put_object %s: %d bytes, %s %s", tls, alg, len(up.body), up.alg, up.sum)
				}
				if res[alg] != `"`+up.etag+`"` {
					t.Errorf("tls=%v %s: boto3 saw ETag %v, server %s", tls, alg, res[alg], up.etag)
				}
			case up.path == "/bucket/boto/multipart" && up.method == http.MethodPut:
				parts++
				if len(up.body) != 5<<20 && len(up.body) != len(data)*12-2*(5<<20) {
					t.Errorf("tls=%v part of %d bytes", tls, len(up.body))
				}
				if up.alg != checksum.CRC32 || up.sum != up.alg.Sum(up.body) {
					t.Errorf("tls=%v part checksum %s %s", tls, up.alg, up.sum)
				}
			case up.method == http.MethodPut && up.path != "/bucket/boto/presigned":
				if !bytes.Equal(up.body, data) {
					t.Errorf("tls=%v %s: %d bytes", tls, up.path, len(up.body))
				}
			}
			if strings.HasPrefix(up.payload, streamingPrefix) {
				chunked++
			}
		}
		if !dotted {
			t.Errorf("tls=%v: no request for the key with dot segments", tls)
		}
		if parts != 3 {
			t.Errorf("tls=%v: %d parts uploaded, want 3", tls, parts)
		}
		if tls && chunked < 6 {
			t.Errorf("tls=%v: %d aws-chunked bodies, want every checksummed upload", tls, chunked)
		}
		t.Logf("tls=%v: %d requests verified, %d aws-chunked", tls, len(ups), chunked)
	}
}

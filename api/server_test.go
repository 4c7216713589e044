package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/openami/openami/api/transport"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testServer is the endpoint on a loopback port, served as cmd/openami
// serves it: an http.Server and listener from the limits.
type testServer struct {
	addr  string
	srv   *Server
	admin identity.Credentials
	logs  *syncBuffer
}

func startServer(t *testing.T, limits Limits) *testServer {
	t.Helper()
	ctx := context.Background()
	dir0 := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir0, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	regions, err := identity.ParseRegions(nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		if blobs[r.Name], err = dir.New(filepath.Join(dir0, "blocks", r.Name)); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := service.New(ctx, service.Config{Store: store, Seal: key, Regions: regions, Blobs: blobs, LocalDir: dir0})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(svc.Close)
	_, admin, _, err := svc.Identity().EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s := New(svc, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry(), limits)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := limits.HTTPServer(s)
	go hs.Serve(limits.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	return &testServer{addr: ln.Addr().String(), srv: s, admin: admin, logs: logs}
}

// syncBuffer is a log sink many requests may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// signed returns an EC2 POST of body (and query, if any) signed with c,
// as aws-sdk-go-v2 signs it.
func (ts *testServer) signed(t *testing.T, c identity.Credentials, query, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+ts.addr+"/?"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends req and returns the status and body of the answer.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sendHead opens a connection and sends req's line and headers, announcing
// its full Content-Length, and then only the first n bytes of its body.
func (ts *testServer) sendHead(t *testing.T, req *http.Request, body string, n int) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.Method, req.URL.RequestURI(), req.Host, len(body))
	req.Header.Write(&b)
	b.WriteString("\r\n")
	b.WriteString(body[:n])
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// answer reads the response on c, and then what follows it until c is
// closed. It fails if either takes longer than wait.
func answer(c net.Conn, wait time.Duration) (status int, body string, err error) {
	c.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "", fmt.Errorf("reading the answer: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, "", err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return resp.StatusCode, string(b), fmt.Errorf("connection left open after the answer: %w", err)
	}
	return resp.StatusCode, string(b), nil
}

func noErrorLogs(t *testing.T, ts *testServer) {
	t.Helper()
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("server fault logged for a client's fault: %s", line)
		}
	}
}

const describeRegions = "Action=DescribeRegions&Version=2016-11-15"

// Hundreds of connections announce 1 MiB bodies and stall. Those without
// credentials are refused without their bodies being read; those naming a
// real access key (with a wrong signature) share the budget for
// unauthenticated bodies, so the server's memory stays bounded; the stalled
// ones are cut off at their deadline; and a signed client is served all the
// while.
func TestStalledBodies(t *testing.T) {
	const mib = 1 << 20
	limits := Limits{
		BodyTimeout:              time.Second,
		MinBodyRate:              mib, // a 1 MiB body has 2 s
		UnauthenticatedBodyBytes: 8 * mib,
		BudgetWait:               3 * time.Second,
	}
	ts := startServer(t, limits)
	forged := identity.Credentials{AccessKeyID: ts.admin.AccessKeyID, SecretAccessKey: "not the secret"}
	bigBody := describeRegions + "&Pad=" + strings.Repeat("x", mib-len(describeRegions)-5)

	// The most reserved from the budget at any moment.
	var peak atomic.Int64
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			if v := int64(testutil.ToFloat64(ts.srv.unauthBytes)); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	start := time.Now()
	const anonymous, keyed = 300, 100
	var conns []net.Conn
	for range anonymous {
		req, _ := http.NewRequest("POST", "http://"+ts.addr+"/", nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		conns = append(conns, ts.sendHead(t, req, bigBody, 7))
	}
	for range keyed {
		conns = append(conns, ts.sendHead(t, ts.signed(t, forged, "", bigBody), bigBody, 7))
	}

	// While they stall: memory is bounded by the budget, not by 400 MiB of
	// announced bodies, and a signed client is served.
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc); grew > 40*mib {
		t.Errorf("heap grew by %d MiB with 400 stalled 1 MiB bodies; want at most the 8 MiB budget and change", grew/mib)
	}
	if status, body := do(t, ts.signed(t, ts.admin, "", describeRegions)); status != 200 || !strings.Contains(body, "DescribeRegionsResponse") {
		t.Errorf("signed client during the stall: %d %s", status, body)
	}

	type result struct {
		status  int
		body    string
		elapsed time.Duration
		err     error
	}
	results := make([]result, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			status, body, err := answer(c, 15*time.Second)
			results[i] = result{status, body, time.Since(start), err}
		})
	}
	wg.Wait()
	close(stop)
	watcher.Wait()

	timedOut, busy := 0, 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("connection %d: %v", i, r.err)
		case i < anonymous:
			if r.status != 401 || !strings.Contains(r.body, "MissingAuthenticationToken") {
				t.Errorf("connection %d without credentials: %d %s", i, r.status, r.body)
			}
		case r.status == 400 && strings.Contains(r.body, "<Code>RequestTimeout</Code>"):
			timedOut++
			if r.elapsed < 1500*time.Millisecond {
				t.Errorf("connection %d timed out after %v, before its 2 s deadline", i, r.elapsed)
			}
		case r.status == 503 && strings.Contains(r.body, "<Code>RequestLimitExceeded</Code>"):
			busy++
		default:
			t.Errorf("connection %d with a known key: %d %s", i, r.status, r.body)
		}
	}
	if timedOut == 0 || busy == 0 {
		t.Errorf("%d stalled bodies timed out and %d found the budget full; want some of each", timedOut, busy)
	}
	if p := peak.Load(); p == 0 || p > limits.UnauthenticatedBodyBytes {
		t.Errorf("at most %d bytes reserved for unauthenticated bodies, want 1 to %d", p, limits.UnauthenticatedBodyBytes)
	}
	if v := testutil.ToFloat64(ts.srv.unauthBytes); v != 0 {
		t.Errorf("%v bytes still reserved after every request ended", v)
	}
	noErrorLogs(t, ts)
}

// A body shorter than its Content-Length is the client's fault: on a
// connection kept open it is cut off at its deadline (it used to hang its
// handler forever), on a connection the client half-closed it is a 400
// (it used to be a 500 and an ERROR log).
func TestShortBody(t *testing.T) {
	ts := startServer(t, Limits{BodyTimeout: 500 * time.Millisecond})

	t.Run("kept open", func(t *testing.T) {
		c := ts.sendHead(t, ts.signed(t, ts.admin, "", describeRegions), describeRegions, 10)
		status, body, err := answer(c, 10*time.Second)
		if err != nil || status != 400 || !strings.Contains(body, "<Code>RequestTimeout</Code>") {
			t.Errorf("got %d %s, %v; want 400 RequestTimeout and the connection closed", status, body, err)
		}
	})
	t.Run("half closed", func(t *testing.T) {
		c := ts.sendHead(t, ts.signed(t, ts.admin, "", describeRegions), describeRegions, 10)
		c.CloseWrite()
		status, body, err := answer(c, 10*time.Second)
		if err != nil || status != 400 || !strings.Contains(body, "<Code>IncompleteBody</Code>") {
			t.Errorf("got %d %s, %v; want 400 IncompleteBody and the connection closed", status, body, err)
		}
	})
	t.Run("whole body, then half closed", func(t *testing.T) {
		// The server takes the half-close for the client leaving and
		// cancels the request; whatever it answers, it is not a 500.
		for i := range 20 {
			body := fmt.Sprintf("Action=CreateKeyPair&Version=2016-11-15&KeyName=k%d", i)
			c := ts.sendHead(t, ts.signed(t, ts.admin, "", body), body, len(body))
			c.CloseWrite()
			status, resp, err := answer(c, 10*time.Second)
			if err == nil && status >= 500 {
				t.Errorf("got %d %s", status, resp)
			}
		}
	})
	noErrorLogs(t, ts)
}

// Every protocol answers the exchange's failures, and an action failed by
// its client going away, as the client's doing: 400, or 503 for a full
// budget, never its internal-error code.
func TestTransportFailuresAreClientFaults(t *testing.T) {
	ts := startServer(t, Limits{})
	errs := map[string]error{
		"incomplete": transport.New(transport.Incomplete, io.ErrUnexpectedEOF),
		"timeout":    transport.New(transport.Timeout, nil),
		"canceled":   transport.New(transport.Canceled, nil),
		"busy":       transport.New(transport.Busy, nil),
		"gone":       fmt.Errorf("sqldb: get access key: %w", context.Canceled),
	}
	internal := map[string]string{}
	for name, proto := range ts.srv.protocols {
		rec := httptest.NewRecorder()
		internal[name] = proto.WriteError(rec, "id", errors.New("boom"))
		if rec.Code != 500 {
			t.Fatalf("%s: an unclassified error answered %d", name, rec.Code)
		}
	}
	for name, proto := range ts.srv.protocols {
		for what, err := range errs {
			rec := httptest.NewRecorder()
			code := proto.WriteError(rec, "id", err)
			want := 400
			if what == "busy" {
				want = 503
			}
			if rec.Code != want || code == "" || code == internal[name] {
				t.Errorf("%s, %s: %d %s, want %d and a code of its own", name, what, rec.Code, code, want)
			}
		}
	}
}

// A signed POST whose query string and body name different actions runs
// neither.
func TestAmbiguousAction(t *testing.T) {
	ts := startServer(t, Limits{})
	req := ts.signed(t, ts.admin, "Action=CreateKeyPair&KeyName=sneaky&Version=2016-11-15", describeRegions)
	if status, body := do(t, req); status != 400 || !strings.Contains(body, "<Code>InvalidParameterCombination</Code>") {
		t.Errorf("ambiguous request: %d %s", status, body)
	}
	status, body := do(t, ts.signed(t, ts.admin, "", "Action=DescribeKeyPairs&Version=2016-11-15"))
	if status != 200 || strings.Contains(body, "sneaky") {
		t.Errorf("the ambiguous request had an effect: %d %s", status, body)
	}
	// Parameters in both places that agree are fine.
	if status, body := do(t, ts.signed(t, ts.admin, "Version=2016-11-15", describeRegions)); status != 200 {
		t.Errorf("agreeing query and body: %d %s", status, body)
	}
}

// A request whose signed x-amz-content-sha256 header says what its body
// hashes to has its signature checked before the body is read: a forged
// one is refused at once, however large and slow its body, and takes
// nothing from the budget.
func TestSignatureCheckedBeforeBody(t *testing.T) {
	ts := startServer(t, Limits{BodyTimeout: 5 * time.Second})
	forged := identity.Credentials{AccessKeyID: ts.admin.AccessKeyID, SecretAccessKey: "not the secret"}
	body := describeRegions + "&Pad=" + strings.Repeat("x", 1<<19)
	req, err := http.NewRequest("POST", "http://"+ts.addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: forged.AccessKeyID, SecretAccessKey: forged.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c := ts.sendHead(t, req, body, 7)
	status, resp, err := answer(c, 10*time.Second)
	if err != nil || status != 403 || !strings.Contains(resp, "SignatureDoesNotMatch") {
		t.Fatalf("got %d %s, %v; want 403 SignatureDoesNotMatch", status, resp, err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("refused after %v: the server waited for the body", d)
	}
	if v := testutil.ToFloat64(ts.srv.unauthBytes); v != 0 {
		t.Errorf("%v bytes reserved", v)
	}
}

// fakeWriter records the write deadlines a response is written under.
type fakeWriter struct {
	httptest.ResponseRecorder
	deadlines int
}

func (w *fakeWriter) SetWriteDeadline(time.Time) error { w.deadlines++; return nil }

// A response is written in WriteChunk pieces, each under a fresh deadline,
// so that a long download is limited by its rate, not its length.
func TestResponseWrittenInChunks(t *testing.T) {
	fw := &fakeWriter{ResponseRecorder: *httptest.NewRecorder()}
	w := &deadlineWriter{ResponseWriter: fw, rc: http.NewResponseController(fw), timeout: time.Second}
	n, err := w.Write(make([]byte, 3*WriteChunk+1))
	if err != nil || n != 3*WriteChunk+1 || fw.Body.Len() != n {
		t.Fatalf("wrote %d, %v", n, err)
	}
	if fw.deadlines != 4 {
		t.Errorf("%d write deadlines for 4 chunks", fw.deadlines)
	}
}

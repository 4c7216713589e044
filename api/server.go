// Package api is where every request enters openami. One HTTP endpoint
// serves every protocol: the server authenticates the request's SigV4
// signature, finds the caller's account, checks the region named by the
// credential scope, and hands the request to the protocol named by the
// scope's service — ec2 (api/ec2), sts (api/sts), ebs (api/ebs), rbin
// (api/rbin), kms (api/kms), iam (api/iam), ssm (api/ssm), autoscaling (api/autoscaling) or s3 (api/s3, whose bodies
// stream: see s3body.go). A request with no authentication at all that is
// not a Query or JSON request is an anonymous S3 request. GET
// /cert-ec2.pem serves a region's EC2 certificate to anyone
// (certificate.go).
//
// The api packages are the only ones that know wire names, XML and JSON
// shapes and error codes. They decide nothing: every rule is in a rules
// package (rules/...) or package service.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/openami/openami"
	"github.com/openami/openami/api/autoscaling"
	"github.com/openami/openami/api/ebs"
	"github.com/openami/openami/api/ec2"
	"github.com/openami/openami/api/iam"
	"github.com/openami/openami/api/kms"
	"github.com/openami/openami/api/rbin"
	"github.com/openami/openami/api/s3"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/ssm"
	"github.com/openami/openami/api/sts"
	"github.com/openami/openami/api/transport"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"
)

// maxQueryBody bounds the body of a Query-protocol request. EC2's largest
// requests (RunInstances with 16 KiB of user data, ImportKeyPair) are far
// smaller.
const maxQueryBody = 1 << 20

// Protocol is one wire protocol served at the endpoint.
type Protocol interface {
	// Serve answers an authenticated request whose body has been read into
	// body, and returns, for logs and metrics, the action's name, the error
	// code it answered with ("" on success) and the error behind that code.
	Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (action, code string, err error)
	// WriteError answers a request that failed before reaching Serve, such
	// as an authentication failure, and returns the error code.
	WriteError(w http.ResponseWriter, requestID string, err error) (code string)
}

// Identity is what the server asks of the rules of identity
// (*identity.Accounts of rules/identity, which New takes from the
// service), and all it asks: who an access key stands for, and which
// regions are served.
type Identity interface {
	// Authenticate returns the principal an access key stands for and the
	// key's secret; NotFound for an unknown key or a disabled account.
	Authenticate(ctx context.Context, accessKeyID string) (openami.Principal, string, error)
	Region(name string) (openami.Region, bool)
	Regions() []openami.Region
}

// The rules of rules/identity are what the server needs.
var _ Identity = (*identity.Accounts)(nil)

// Server is the HTTP handler of the endpoint.
type Server struct {
	identity  Identity
	certs     EC2Certificates
	log       *slog.Logger
	now       func() time.Time
	limits    Limits
	protocols map[string]Protocol
	mux       *http.ServeMux
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	// budget holds limits.UnauthenticatedBodyBytes: the memory bodies may
	// take before their signature is checked. unauthBytes is what is
	// reserved from it now.
	budget      *semaphore.Weighted
	unauthBytes prometheus.Gauge
	// s3 is the S3 API, served apart from protocols: its bodies stream
	// (s3body.go).
	s3      *s3.Handler
	s3Rules s3.Rules
}

// New returns the endpoint's handler, holding clients to limits (zero
// fields take their defaults). Metrics are registered on reg and served,
// with reg's other metrics, at GET /metrics. Serve it with
// limits.HTTPServer and limits.Listener, which apply the limits a handler
// cannot.
func New(svc *service.Service, log *slog.Logger, reg *prometheus.Registry, limits Limits) *Server {
	limits = limits.withDefaults()
	s := &Server{
		s3:       s3.New(svc.Objects(), s3.DefaultDomains),
		s3Rules:  svc.Objects(),
		identity: svc.Identity(),
		certs:    svc.Identity(),
		log:      log,
		now:      time.Now,
		limits:   limits,
		protocols: map[string]Protocol{
			"ec2":         ec2Handler(svc),
			"sts":         sts.New(),
			"ebs":         ebs.New(svc.EBS()),
			"rbin":        rbin.New(svc.Images()),
			"kms":         kms.New(svc.KMS()),
			"iam":         iam.New(svc.Identity()),
			"ssm":         ssm.New(svc.Parameters()),
			"autoscaling": autoscaling.New(svc.AutoScaling()),
		},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "openami_requests_total",
			Help: "API requests by service, action and error code (empty on success).",
		}, []string{"service", "action", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "openami_request_duration_seconds",
			Help:    "API request latency by service and action.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"service", "action"}),
		budget: semaphore.NewWeighted(limits.UnauthenticatedBodyBytes),
		unauthBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "openami_unauthenticated_body_bytes",
			Help: "Bytes reserved for request bodies being read before their signature is checked.",
		}),
	}
	reg.MustRegister(s.requests, s.latency, s.unauthBytes)
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /cert-ec2.pem", s.serveEC2Certificate)
	s.mux.HandleFunc("/", s.serveAPI)
	return s
}

// UseS3Domains sets the domains under which a Host names a bucket
// (virtual-hosted-style S3 requests: BUCKET.DOMAIN[:port]), in place of
// s3.DefaultDomains. It must be called before the server serves.
func (s *Server) UseS3Domains(domains []string) {
	s.s3 = s3.New(s.s3Rules, domains)
}

// ServeHTTP serves the endpoint. Whatever route a request takes, its body
// has until a deadline set by its length to arrive (so that the server,
// draining an unread body after the answer, does not wait on a stalled
// client forever), and its response is written under the per-chunk write
// deadline.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if r.ContentLength != 0 {
		// Not for a request without a body: the server is already reading
		// ahead on its connection, and a deadline there would cancel the
		// request when it passed.
		rc.SetReadDeadline(time.Now().Add(s.limits.bodyTime(r.ContentLength)))
	}
	s.mux.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, timeout: s.limits.WriteTimeout}, r)
	// Time for the server's final flush of what the handler buffered.
	rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
}

// serveAPI authenticates a request and hands it to its protocol.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	reqID := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", reqID)
	rc := http.NewResponseController(w)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	w = sw

	service := "ec2"
	auth, err := sigv4.Parse(r)
	if err == nil {
		service = auth.Service
	} else if errors.Is(err, sigv4.Missing) && s3Anonymous(r) {
		service, auth, err = "s3", nil, nil
	} else if claimsS3(r) {
		service = "s3"
	}
	var (
		action, code string
		p            openami.Principal
	)
	if service == "s3" && err != nil {
		code = s.s3.WriteError(w, r, reqID, err)
	} else if service == "s3" {
		action, code, p, err = s.serveS3(w, r, rc, auth, reqID)
	} else {
		proto, ok := s.protocols[service]
		if !ok {
			proto = s.protocols["ec2"]
			if err == nil {
				err = &sigv4.Error{Failure: sigv4.Incomplete, Message: fmt.Sprintf("Credential should be scoped to a valid service, not '%s'.", service)}
			}
		}
		var body []byte
		if err == nil {
			body, p, err = s.admit(r, rc, auth)
		}
		if err != nil {
			if te, ok := transport.Classify(err); ok && (te.Failure == transport.Timeout || te.Failure == transport.Incomplete) {
				// The rest of the body, if any, is not worth waiting for.
				w.Header().Set("Connection", "close")
			}
			code = proto.WriteError(w, reqID, err)
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
			action, code, err = proto.Serve(w, r, body, p, reqID)
		}
	}
	elapsed := s.now().Sub(start)
	s.requests.WithLabelValues(service, action, code).Inc()
	s.latency.WithLabelValues(service, action).Observe(elapsed.Seconds())
	attrs := []slog.Attr{
		slog.String("request_id", reqID),
		slog.String("service", service),
		slog.String("action", action),
		slog.String("account", p.AccountID),
		slog.String("region", p.Region),
		slog.String("code", code),
		slog.Int("status", sw.status),
		slog.Duration("duration", elapsed),
		slog.String("remote", r.RemoteAddr),
	}
	level := slog.LevelInfo
	if te, ok := transport.Classify(err); ok {
		// The client's doing, or a moment's lack of room: worth a line,
		// never an alarm. A full budget is a warning, since it may be an
		// attack or a sign the limits are too small.
		if te.Failure == transport.Busy {
			level = slog.LevelWarn
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	} else if sw.status >= 500 && err != nil {
		// Only server faults carry detail worth logging; the caller got a
		// generic message.
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// admit authenticates a request whose authentication parsed as auth, and
// reads its body, in the order that makes a client who cannot sign cost
// the least: the access key is looked up before the body is read (an
// unknown key is refused without reading it); a request whose signed
// x-amz-content-sha256 header says what the body's hash is has its
// signature checked before the body is read too; any other body is read
// only once its length is reserved from the budget for unauthenticated
// bodies (unless it is at most freeBody bytes), released when its
// signature has been checked.
//
// It returns the body and the caller, or a *sigv4.Error, a *transport.Error
// (body too slow, cut short, client gone, budget full), an
// InvalidParameter *openami.Error (body too large) or a server fault.
func (s *Server) admit(r *http.Request, rc *http.ResponseController, auth *sigv4.Auth) ([]byte, openami.Principal, error) {
	ctx := r.Context()
	var p openami.Principal
	if r.ContentLength > maxQueryBody {
		return nil, p, errBodyTooLarge
	}
	p, secret, err := s.identity.Authenticate(ctx, auth.AccessKeyID)
	switch {
	case errors.Is(err, openami.ErrNotFound):
		return nil, p, &sigv4.Error{Failure: sigv4.UnknownKey, Message: "AWS was not able to validate the provided access credentials"}
	case err != nil && ctx.Err() != nil:
		return nil, p, transport.New(transport.Canceled, err)
	case err != nil:
		return nil, p, err
	}
	// The signature covers x-amz-content-sha256 when it is sent: check it
	// with the hash the client claims, and only the body's own hash is left
	// to check once it is read. UNSIGNED-PAYLOAD bodies (EBS blocks, which
	// carry their own checksum) are never hashed.
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	verified := false
	if claimed != "" {
		if err := auth.Verify(r, secret, claimed, s.now()); err != nil {
			return nil, p, err
		}
		verified = true
	}
	if n := r.ContentLength; !verified && (n < 0 || n > freeBody) {
		if n < 0 {
			n = maxQueryBody + 1
		}
		release, err := s.reserve(ctx, n)
		if err != nil {
			return nil, p, err
		}
		defer release()
	}
	body, err := s.readBody(r, rc)
	if err != nil {
		return nil, p, err
	}
	if len(body) > maxQueryBody {
		return nil, p, errBodyTooLarge
	}
	if claimed != unsignedPayload {
		sum := sha256.Sum256(body)
		if err := auth.Verify(r, secret, hex.EncodeToString(sum[:]), s.now()); err != nil {
			return nil, p, err
		}
	}
	if err := s.checkRegion(auth); err != nil {
		return nil, p, err
	}
	p.Region = auth.Region
	return body, p, nil
}

// checkRegion refuses a credential scope naming a region not served.
func (s *Server) checkRegion(auth *sigv4.Auth) error {
	if _, ok := s.identity.Region(auth.Region); ok {
		return nil
	}
	// IAM is global: AWS's clients scope it to us-east-1, served or not.
	if auth.Service == "iam" && auth.Region == "us-east-1" {
		return nil
	}
	names := make([]string, 0, len(s.identity.Regions()))
	for _, reg := range s.identity.Regions() {
		names = append(names, reg.Name)
	}
	return &sigv4.Error{Failure: sigv4.BadRegion, Message: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. This server serves: %s.", auth.Region, strings.Join(names, ", "))}
}

// freeBody is the largest body read before its signature is checked
// without a reservation from the budget. Nearly every Query request is
// this small, so an attacker who holds the whole budget does not stop
// them; and Limits.MaxConns such bodies take at most MaxConns × 16 KiB
// (16 MiB by default).
const freeBody = 16 << 10

var errBodyTooLarge = openami.Errorf(openami.InvalidParameter, "", "The request body exceeds %d bytes", maxQueryBody)

// reserve takes n bytes from the budget for unauthenticated bodies,
// waiting at most limits.BudgetWait, and returns the function that gives
// them back. It fails with a transport.Busy error when the budget stays
// full, or Canceled when the client leaves while waiting.
func (s *Server) reserve(ctx context.Context, n int64) (release func(), err error) {
	wctx, cancel := context.WithTimeout(ctx, s.limits.BudgetWait)
	defer cancel()
	if err := s.budget.Acquire(wctx, n); err != nil {
		if ctx.Err() != nil {
			return nil, transport.New(transport.Canceled, ctx.Err())
		}
		return nil, transport.New(transport.Busy, nil)
	}
	s.unauthBytes.Add(float64(n))
	return func() {
		s.unauthBytes.Sub(float64(n))
		s.budget.Release(n)
	}, nil
}

// statusWriter remembers the status of a response for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// deadlineWriter writes a response in pieces of WriteChunk bytes, each
// under a fresh write deadline: a client reading at any steady rate gets a
// response of any size, and one that stops reading is cut off.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), WriteChunk)]
		w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
		m, err := w.ResponseWriter.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

const unsignedPayload = "UNSIGNED-PAYLOAD"

// readBody reads a request body of at most maxQueryBody bytes (one more
// tells the caller it was too long) within the time its length allows,
// into a buffer sized from Content-Length when the client sent one, so
// that a 512 KiB EBS block is read without growing a buffer step by step.
// The caller must have bounded Content-Length, and reserved it when the
// request is not yet authenticated.
//
// A body that does not arrive in time is a transport.Timeout error, one
// that ends early (or does not decode, if chunked) transport.Incomplete:
// the client's faults. Either way the connection is closed after the
// answer, rather than read on.
func (s *Server) readBody(r *http.Request, rc *http.ResponseController) ([]byte, error) {
	if r.ContentLength == 0 {
		return nil, nil
	}
	rc.SetReadDeadline(time.Now().Add(s.limits.bodyTime(r.ContentLength)))
	var (
		body []byte
		err  error
	)
	if n := r.ContentLength; n > 0 {
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, maxQueryBody+1))
	}
	if err != nil {
		// Leave the deadline as it is, passed or near, so that the server
		// does not wait on this client to drain what is left; serveAPI
		// closes the connection.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, transport.New(transport.Timeout, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, transport.New(transport.Incomplete, err)
		}
		if r.Context().Err() != nil {
			return nil, transport.New(transport.Canceled, err)
		}
		// A reset connection, bad chunked framing: still the client's.
		return nil, transport.New(transport.Incomplete, err)
	}
	// The body is in: the request may now take as long as its action
	// does. (A deadline left in place would cancel the request when it
	// passed, as the server reads ahead on the connection.)
	rc.SetReadDeadline(time.Time{})
	return body, nil
}

// ec2Handler returns the EC2 protocol over svc's rules.
func ec2Handler(svc *service.Service) *ec2.Handler {
	h := ec2.New(svc, svc.Identity(), svc.EBS(), svc.Images(), svc.Instances(), svc.Network(), svc.Templates(), svc.Imports())
	h.SetExports(svc.Exports())
	return h
}

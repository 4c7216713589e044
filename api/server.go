// Package api is where every request enters openami. One HTTP endpoint
// serves every protocol: the server authenticates the request's SigV4
// signature, finds the caller's account, checks the region named by the
// credential scope, and hands the request to the protocol named by the
// scope's service — ec2 (api/ec2), sts (api/sts), ebs (api/ebs), rbin
// (api/rbin) or kms (api/kms).
//
// The api packages are the only ones that know wire names, XML and JSON
// shapes and error codes. They decide nothing: every rule is in package
// service.
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
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/openami/openami"
	"github.com/openami/openami/api/ebs"
	"github.com/openami/openami/api/ec2"
	"github.com/openami/openami/api/kms"
	"github.com/openami/openami/api/rbin"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/sts"
	"github.com/openami/openami/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// Server is the HTTP handler of the endpoint.
type Server struct {
	svc       *service.Service
	log       *slog.Logger
	now       func() time.Time
	protocols map[string]Protocol
	mux       *http.ServeMux
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

// New returns the endpoint's handler. Metrics are registered on reg and
// served, with reg's other metrics, at GET /metrics.
func New(svc *service.Service, log *slog.Logger, reg *prometheus.Registry) *Server {
	s := &Server{
		svc: svc,
		log: log,
		now: time.Now,
		protocols: map[string]Protocol{
			"ec2":  ec2.New(svc),
			"sts":  sts.New(svc),
			"ebs":  ebs.New(svc),
			"rbin": rbin.New(svc),
			"kms":  kms.New(svc),
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
	}
	reg.MustRegister(s.requests, s.latency)
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("/", s.serveAPI)
	return s
}

// ServeHTTP serves the endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// serveAPI authenticates a request and hands it to its protocol.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	reqID := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", reqID)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	w = sw

	service := "ec2"
	auth, authErr := sigv4.Parse(r)
	if authErr == nil {
		service = auth.Service
	}
	proto, ok := s.protocols[service]
	if !ok {
		proto = s.protocols["ec2"]
		if authErr == nil {
			authErr = &sigv4.Error{Failure: sigv4.Incomplete, Message: fmt.Sprintf("Credential should be scoped to a valid service, not '%s'.", service)}
		}
	}
	var (
		action, code string
		p            openami.Principal
	)
	body, err := readBody(r)
	switch {
	case authErr != nil:
		err = authErr
	case err != nil:
		err = fmt.Errorf("api: read body: %w", err)
	case len(body) > maxQueryBody:
		err = openami.Errorf(openami.InvalidParameter, "", "The request body exceeds %d bytes", maxQueryBody)
	default:
		p, err = s.authenticate(r.Context(), r, auth, body)
	}
	if err != nil {
		code = proto.WriteError(w, reqID, err)
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
		action, code, err = proto.Serve(w, r, body, p, reqID)
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
	if sw.status >= 500 && err != nil {
		// Only server faults carry detail worth logging; the caller got a
		// generic message.
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// authenticate verifies the request's signature and returns its caller.
func (s *Server) authenticate(ctx context.Context, r *http.Request, auth *sigv4.Auth, body []byte) (openami.Principal, error) {
	p, secret, err := s.svc.Authenticate(ctx, auth.AccessKeyID)
	if errors.Is(err, openami.ErrNotFound) {
		return p, &sigv4.Error{Failure: sigv4.UnknownKey, Message: "AWS was not able to validate the provided access credentials"}
	}
	if err != nil {
		return p, err
	}
	// A body signed as UNSIGNED-PAYLOAD (EBS blocks, which carry their own
	// checksum) need not be hashed here; Verify checks the header's claim.
	payload := unsignedPayload
	if r.Header.Get("X-Amz-Content-Sha256") != unsignedPayload {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	if err := auth.Verify(r, secret, payload, s.now()); err != nil {
		return p, err
	}
	if _, ok := s.svc.Region(auth.Region); !ok {
		names := make([]string, 0, len(s.svc.Regions()))
		for _, reg := range s.svc.Regions() {
			names = append(names, reg.Name)
		}
		return p, &sigv4.Error{Failure: sigv4.BadRegion, Message: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. This server serves: %s.", auth.Region, strings.Join(names, ", "))}
	}
	p.Region = auth.Region
	return p, nil
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

const unsignedPayload = "UNSIGNED-PAYLOAD"

// readBody reads a request body of at most maxQueryBody bytes (one more
// tells the caller it was too long), into a buffer sized from
// Content-Length when the client sent one, so that a 512 KiB EBS block is
// read without growing a buffer step by step.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= maxQueryBody {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, maxQueryBody+1))
}

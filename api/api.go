// Package api is Sluice's HTTP transport: routes, bearer-token
// authentication, the OpenAPI document, and the one table that maps error
// codes to statuses. It calls the service and nothing else.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sluice"
	"sluice/service"
)

// Authenticator turns a bearer token into a principal.
type Authenticator interface {
	Verify(ctx context.Context, bearer string) (*sluice.Principal, error)
}

// Server serves Sluice's HTTP API.
type Server struct {
	svc      *service.Service
	auth     Authenticator
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []route
	draining atomic.Bool
	inflight atomic.Int64
	ready    func(context.Context) error

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	registry *prometheus.Registry
}

type route struct {
	method, path string
	roles        []string // any of these; empty = any authenticated principal; nil public
	public       bool
}

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// Ready reports whether the server can take queries (for /readyz).
	Ready func(context.Context) error
}

// NewServer returns the API over svc, authenticating with auth.
func NewServer(svc *service.Service, auth Authenticator, opts Options) *Server {
	s := &Server{svc: svc, auth: auth, log: opts.Logger, mux: http.NewServeMux(), ready: opts.Ready, registry: prometheus.NewRegistry()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_http_requests_total", Help: "HTTP requests by route and status class."}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_http_request_seconds", Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"route"})
	s.registry.MustRegister(s.requests, s.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.register()
	return s
}

// Routes lists the server's routes as "METHOD /path" (for the OpenAPI test).
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.routes {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

// RouteRoles returns the roles a route allows (nil for public routes, empty
// for any authenticated principal).
func (s *Server) RouteRoles(method, path string) (roles []string, public bool) {
	for _, r := range s.routes {
		if r.method == method && r.path == path {
			return r.roles, r.public
		}
	}
	return nil, false
}

// Drain makes the server refuse new queries (503) while in-flight ones
// finish; Inflight reports how many are running.
func (s *Server) Drain()          { s.draining.Store(true) }
func (s *Server) Inflight() int64 { return s.inflight.Load() }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type handler func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error

// handle registers a route: authentication, role check, metrics, and error
// mapping wrap every handler.
func (s *Server) handle(method, path string, roles []string, h handler) {
	s.routes = append(s.routes, route{method: method, path: path, roles: roles})
	s.mux.HandleFunc(method+" "+path, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, code: 200}
		defer func() {
			s.requests.WithLabelValues(path, statusClass(rw.code)).Inc()
			s.latency.WithLabelValues(path).Observe(time.Since(start).Seconds())
		}()
		p, err := s.authenticate(r)
		if err == nil {
			err = allowed(p, roles)
		}
		if err == nil {
			err = h(rw, r, p)
		}
		if err != nil {
			s.writeError(rw, r, err)
		}
	})
}

// public registers an unauthenticated route.
func (s *Server) public(method, path string, h http.HandlerFunc) {
	s.routes = append(s.routes, route{method: method, path: path, public: true})
	s.mux.HandleFunc(method+" "+path, h)
}

func (s *Server) authenticate(r *http.Request) (*sluice.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &sluice.Error{Code: sluice.EUNAUTHORIZED, Rule: "auth.missing_token", Message: "a bearer token is required"}
	}
	if !strings.HasPrefix(h, "Bearer ") {
		return nil, &sluice.Error{Code: sluice.EUNAUTHORIZED, Rule: "auth.malformed", Message: "the Authorization header must be 'Bearer <token>'"}
	}
	return s.auth.Verify(r.Context(), strings.TrimPrefix(h, "Bearer "))
}

func allowed(p *sluice.Principal, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	for _, r := range roles {
		if p.Has(r) {
			return nil
		}
	}
	return &sluice.Error{Code: sluice.EFORBIDDEN, Rule: "role", Message: "this needs one of the roles " + strings.Join(roles, ", ")}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func statusClass(code int) string { return string(rune('0'+code/100)) + "xx" }

// statuses maps error codes to HTTP statuses: the one table.
var statuses = map[string]int{
	sluice.EINVALID:      http.StatusBadRequest,
	sluice.ENOTFOUND:     http.StatusNotFound,
	sluice.EUNAUTHORIZED: http.StatusUnauthorized,
	sluice.EFORBIDDEN:    http.StatusForbidden,
	sluice.ECONFLICT:     http.StatusConflict,
	sluice.EBUDGET:       http.StatusTooManyRequests,
	sluice.EUNAVAILABLE:  http.StatusServiceUnavailable,
	sluice.EINTERNAL:     http.StatusInternalServerError,
}

// errorBody is what a refusal looks like on the wire.
type errorBody struct {
	Error *sluice.Error `json:"error"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var se *sluice.Error
	if !errors.As(err, &se) {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		se = &sluice.Error{Code: sluice.EINTERNAL, Message: "internal error"}
	} else if se.Code == sluice.EINTERNAL {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		se = &sluice.Error{Code: sluice.EINTERNAL, Step: se.Step, Rule: se.Rule, Message: "internal error"}
	}
	status, ok := statuses[se.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if se.Code == sluice.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	writeJSON(w, status, errorBody{Error: se})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly: unknown fields are errors.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &sluice.Error{Code: sluice.EINVALID, Rule: "request.body", Message: "bad request body: " + err.Error()}
	}
	return nil
}

// MetricsHandler serves Prometheus metrics.
func (s *Server) metrics() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

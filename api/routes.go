package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"sluice"
	"sluice/service"
	"sluice/storage/audit"
)

var (
	anyone    = []string{}
	owners    = []string{sluice.RoleOwner}
	analysts  = []string{sluice.RoleAnalyst}
	reviewers = []string{sluice.RoleReviewer}
	readers   = []string{sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor}
)

func (s *Server) register() {
	s.public("GET", "/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.public("GET", "/readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		if s.ready != nil {
			if err := s.ready(r.Context()); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	s.public("GET", "/metrics", s.metrics().ServeHTTP)
	s.public("GET", "/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		doc, err := OpenAPI()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})

	// Catalog.
	s.handle("GET", "/v1/datasets", anyone, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		writeJSON(w, http.StatusOK, map[string]any{"datasets": s.svc.Datasets(r.Context(), p)})
		return nil
	})
	s.handle("GET", "/v1/datasets/{id}", anyone, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		d, err := s.svc.Dataset(r.Context(), p, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	})
	s.handle("PUT", "/v1/datasets/{id}", owners, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var d sluice.Dataset
		if err := decode(r, &d); err != nil {
			return err
		}
		if d.ID != r.PathValue("id") {
			return &sluice.Error{Code: sluice.EINVALID, Rule: "dataset.id", Message: "the manifest's id must match the path"}
		}
		out, err := s.svc.RegisterDataset(r.Context(), p, &d)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})

	s.handle("POST", "/v1/datasets/{id}/status", owners, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var b struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}
		if err := decode(r, &b); err != nil {
			return err
		}
		d, err := s.svc.SetDatasetStatus(r.Context(), p, r.PathValue("id"), b.Status, b.Reason)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	})
	s.handle("POST", "/v1/datasets/{id}/versions", owners, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		q := r.URL.Query()
		d, report, err := s.svc.ImportVersion(r.Context(), p, service.ImportRequest{Dataset: r.PathValue("id"), Version: q.Get("version"), Format: q.Get("format"), Body: r.Body})
		if err != nil {
			var se *sluice.Error
			if report != nil && errors.As(err, &se) && se.Code == sluice.EINVALID {
				// A refused import carries its data-quality report.
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": se, "report": report})
				return nil
			}
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]any{"dataset": d, "report": report})
		return nil
	})
	s.handle("GET", "/v1/datasets/{id}/versions", anyone, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		vs, err := s.svc.DatasetVersions(r.Context(), p, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
		return nil
	})
	s.handle("POST", "/v1/corrections", anyone, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var b struct {
			Dataset     string `json:"dataset"`
			Column      string `json:"column,omitempty"`
			Description string `json:"description"`
		}
		if err := decode(r, &b); err != nil {
			return err
		}
		c, err := s.svc.ReportError(r.Context(), p, b.Dataset, b.Column, b.Description)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, c)
		return nil
	})
	s.handle("GET", "/v1/corrections", anyone, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		cs, err := s.svc.Corrections(r.Context(), p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"corrections": cs})
		return nil
	})
	s.handle("POST", "/v1/corrections/{id}/answer", owners, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var b struct {
			State  string `json:"state"`
			Answer string `json:"answer"`
		}
		if err := decode(r, &b); err != nil {
			return err
		}
		c, err := s.svc.AnswerCorrection(r.Context(), p, r.PathValue("id"), b.State, b.Answer)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})

	// Applications.
	s.handle("POST", "/v1/applications", analysts, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var body struct {
			Terms      sluice.Terms `json:"terms"`
			Principals []string     `json:"principals,omitempty"`
		}
		if err := decode(r, &body); err != nil {
			return err
		}
		a, err := s.svc.Apply(r.Context(), p, body.Terms, body.Principals)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, a)
		return nil
	})
	s.handle("GET", "/v1/applications", readers, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		apps, err := s.svc.Applications(r.Context(), p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"applications": apps})
		return nil
	})
	s.handle("GET", "/v1/applications/{id}", readers, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		a, err := s.svc.Application(r.Context(), p, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
	s.handle("POST", "/v1/applications/{id}/accept", reviewers, s.appAction(func(ctx context.Context, p *sluice.Principal, id string, b actionBody) (any, error) {
		return s.svc.Accept(ctx, p, id)
	}))
	s.handle("POST", "/v1/applications/{id}/approve", reviewers, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var ap service.Approval
		if err := decode(r, &ap); err != nil {
			return err
		}
		a, err := s.svc.Approve(r.Context(), p, r.PathValue("id"), ap)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
	s.handle("POST", "/v1/applications/{id}/reject", reviewers, s.appAction(func(ctx context.Context, p *sluice.Principal, id string, b actionBody) (any, error) {
		return s.svc.Reject(ctx, p, id, b.Reason)
	}))
	s.handle("POST", "/v1/applications/{id}/withdraw", analysts, s.appAction(func(ctx context.Context, p *sluice.Principal, id string, b actionBody) (any, error) {
		return s.svc.Withdraw(ctx, p, id, b.Reason)
	}))
	s.handle("GET", "/v1/reviews/due", reviewers, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		due, err := s.svc.Due(r.Context(), p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"applications": due})
		return nil
	})

	// Authorizations.
	s.handle("GET", "/v1/authorizations", readers, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		as, err := s.svc.Authorizations(r.Context(), p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"authorizations": as})
		return nil
	})
	s.handle("GET", "/v1/authorizations/{id}", readers, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		a, err := s.svc.Authorization(r.Context(), p, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
	for _, act := range []struct {
		name string
		fn   func(context.Context, *sluice.Principal, string, string) (*sluice.Authorization, error)
	}{{"suspend", s.svc.Suspend}, {"reinstate", s.svc.Reinstate}, {"revoke", s.svc.Revoke}} {
		fn := act.fn
		s.handle("POST", "/v1/authorizations/{id}/"+act.name, reviewers, s.appAction(func(ctx context.Context, p *sluice.Principal, id string, b actionBody) (any, error) {
			return fn(ctx, p, id, b.Reason)
		}))
	}

	s.handle("GET", "/v1/authorizations/{id}/budget", readers, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		b, err := s.svc.Budget(r.Context(), p, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"scopes": b})
		return nil
	})
	s.handle("GET", "/v1/alerts", []string{sluice.RoleReviewer, sluice.RoleAuditor}, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		as, err := s.svc.Alerts(r.Context(), p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"alerts": as})
		return nil
	})

	s.handle("GET", "/v1/audit", []string{sluice.RoleAuditor, sluice.RoleAnalyst, sluice.RoleOwner}, func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		q := r.URL.Query()
		f := audit.Filter{Principal: q.Get("principal"), Dataset: q.Get("dataset"), Authorization: q.Get("authorization"), Kind: q.Get("kind")}
		for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
			if v := q.Get(name); v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					return &sluice.Error{Code: sluice.EINVALID, Rule: "request.time", Message: name + " must be an RFC 3339 time"}
				}
				*dst = t
			}
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return &sluice.Error{Code: sluice.EINVALID, Rule: "request.limit", Message: "limit must be a non-negative integer"}
			}
			f.Limit = n
		}
		evs, err := s.svc.AuditTrail(r.Context(), p, f)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": evs})
		return nil
	})

	// Queries.
	s.handle("POST", "/v1/queries", analysts, s.query(false))
	s.handle("POST", "/v1/queries:explain", analysts, s.query(true))
}

type actionBody struct {
	Reason string `json:"reason"`
}

func (s *Server) appAction(fn func(ctx context.Context, p *sluice.Principal, id string, b actionBody) (any, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var b actionBody
		if r.ContentLength != 0 {
			if err := decode(r, &b); err != nil {
				return err
			}
		}
		out, err := fn(r.Context(), p, r.PathValue("id"), b)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// QueryResponse is the answer to POST /v1/queries.
type QueryResponse struct {
	Release    *sluice.Release      `json:"release,omitempty"`
	Plan       *sluice.Plan         `json:"plan"`
	Decision   *sluice.Decision     `json:"decision,omitempty"`
	Explain    *service.Explanation `json:"explain,omitempty"`
	DurationMS int64                `json:"duration_ms,omitempty"`
}

func (s *Server) query(explain bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p *sluice.Principal) error {
		var run service.Run
		if err := decode(r, &run); err != nil {
			return err
		}
		if explain {
			ex, d, err := s.svc.ExplainAs(r.Context(), p, run)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, QueryResponse{Plan: ex.Plan, Decision: d, Explain: ex})
			return nil
		}
		if s.draining.Load() {
			return &sluice.Error{Code: sluice.EUNAVAILABLE, Rule: "server.draining", Message: "the server is shutting down; retry on another instance"}
		}
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		res, d, err := s.svc.RunAs(r.Context(), p, run)
		if err != nil {
			return err
		}
		return writeRelease(w, r, QueryResponse{Release: res.Release, Plan: res.Plan, Decision: d, DurationMS: res.Duration.Milliseconds()})
	}
}

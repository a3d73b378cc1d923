// Package policy decides whether a query may run, and under which
// obligations, by evaluating Rego policies with an embedded Open Policy Agent.
//
// Rego decides whether and under which obligations; Go enforces them. The
// default bundle ships in bundle/ and is embedded; Options.Dir loads another
// from a directory, which Reload and Watch pick up again when it changes.
// Every answer is a sluice.Decision: allow, the deny reasons with their
// stable rule ids, the obligations, and the bundle revision that decided.
//
// The default bundle's rule ids: role.analyst, plan.empty, dataset.unknown,
// dataset.closed, column.identifier, classification.purpose,
// authorization.missing, authorization.inactive, authorization.organisation,
// authorization.principal, authorization.dataset, authorization.column,
// authorization.aggregate, budget.per_query, and default.deny when no rule
// allows a query. Its allow rules: dataset.open, authorization.active.
package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"sluice"
)

// decisionQuery is the rule Go evaluates for every query.
const decisionQuery = "data.sluice.decision"

// Options configure an Engine.
type Options struct {
	// Dir is a directory of *.rego policies and a data.json to load instead
	// of the embedded bundle; "" is the embedded bundle. Files ending in
	// _test.rego are Rego tests: Test runs them, the engine does not load them.
	Dir string
	// Logger receives what the watcher cannot return: refused reloads (at
	// Error level) and policy changes. Nil is slog.Default().
	Logger *slog.Logger
	// Now is the clock that dates decisions. Nil is time.Now.
	Now func() time.Time
	// OnReload, when set, is called after every reload attempt, by Reload or
	// by Watch, with the revision in force afterwards and the attempt's error.
	OnReload func(revision string, err error)
}

// Engine evaluates the policy. It is safe for concurrent use: Decide reads
// the compiled policy through an atomic pointer, so a reload never blocks it
// and never shows it a half-loaded policy.
type Engine struct {
	dir      string
	logger   *slog.Logger
	now      func() time.Time
	onReload func(string, error)

	current atomic.Pointer[compiled]

	mu             sync.Mutex     // serialises reloads and writes to the store
	authorizations map[string]any // data.authorizations, carried across reloads
}

// compiled is one loaded policy: the prepared query and the store it reads.
type compiled struct {
	query    rego.PreparedEvalQuery
	store    storage.Store
	revision string
}

// New compiles the policy of opts.Dir, or the embedded bundle.
func New(ctx context.Context, opts Options) (*Engine, error) {
	e := &Engine{dir: opts.Dir, logger: opts.Logger, now: opts.Now, onReload: opts.OnReload}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	src, err := readSources(e.dir)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	c, err := e.compile(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	e.current.Store(c)
	return e, nil
}

// Revision is the revision of the policy in force: the first 12 hex digits
// of the SHA-256 of its modules and data.
func (e *Engine) Revision() string { return e.current.Load().revision }

// Reload compiles the policy again from Dir and puts it in force. A policy
// that does not compile is refused with the compiler's errors (codes and
// file:line locations, as ast.Errors in the chain) and the old one stays.
func (e *Engine) Reload(ctx context.Context) error {
	src, err := readSources(e.dir)
	if err == nil {
		err = e.reload(ctx, src)
	}
	if err != nil {
		err = fmt.Errorf("reload policy: %w", err)
	}
	if e.onReload != nil {
		e.onReload(e.Revision(), err)
	}
	return err
}

// reload compiles src and puts it in force.
func (e *Engine) reload(ctx context.Context, src *sources) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.compileLocked(ctx, src)
	if err != nil {
		return err
	}
	e.current.Store(c)
	return nil
}

func (e *Engine) compile(ctx context.Context, src *sources) (*compiled, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.compileLocked(ctx, src)
}

// compileLocked parses and compiles src into a new store and prepared query,
// and checks that the policy answers with a well-formed decision.
func (e *Engine) compileLocked(ctx context.Context, src *sources) (*compiled, error) {
	data := map[string]any{}
	if src.data != nil {
		if err := util.UnmarshalJSON(src.data.text, &data); err != nil {
			return nil, fmt.Errorf("%s: %w", src.data.name, err)
		}
	}
	if e.authorizations != nil {
		data["authorizations"] = e.authorizations
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))

	opts := []func(*rego.Rego){
		rego.Query(decisionQuery),
		rego.Store(store),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Strict(true),
	}
	var errs ast.Errors
	for _, f := range src.modules {
		m, err := ast.ParseModuleWithOpts(f.name, string(f.text), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			var parseErrs ast.Errors
			if errors.As(err, &parseErrs) {
				errs = append(errs, parseErrs...)
				continue
			}
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		opts = append(opts, rego.ParsedModule(m))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		var compileErrs ast.Errors // without OPA's "bundle activation failed" wrapper
		if errors.As(err, &compileErrs) {
			return nil, compileErrs
		}
		return nil, err
	}
	c := &compiled{query: pq, store: store, revision: src.revision}
	if err := c.selfCheck(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// selfCheck refuses a policy that does not answer with a well-formed
// decision, or that allows a principal without roles to read nothing.
func (c *compiled) selfCheck(ctx context.Context) error {
	in := &Input{Plan: &sluice.Plan{}, Time: time.Unix(0, 0).UTC()}
	d, err := c.decide(ctx, in)
	if err != nil {
		return fmt.Errorf("policy self-check: %w", err)
	}
	if d.Allow {
		return fmt.Errorf("policy self-check: %s allows a principal without roles to query nothing", decisionQuery)
	}
	return nil
}

// Decide judges one query. A refusal is a Decision with Allow false and its
// reasons, not an error; an error means the policy could not decide (it is
// coded sluice.EINVALID for a malformed input and sluice.EINTERNAL
// otherwise, with Step sluice.StepPolicy), and the query must not run.
func (e *Engine) Decide(ctx context.Context, in Input) (*sluice.Decision, error) {
	if in.Plan == nil {
		return nil, &sluice.Error{Code: sluice.EINVALID, Step: sluice.StepPolicy, Message: "no query plan to decide on"}
	}
	for _, v := range []struct {
		name string
		x    float64
	}{{"ε", in.Request.Epsilon}, {"δ", in.Request.Delta}} {
		if v.x < 0 || math.IsNaN(v.x) || math.IsInf(v.x, 0) {
			return nil, &sluice.Error{Code: sluice.EINVALID, Step: sluice.StepPolicy, Message: fmt.Sprintf("requested %s must be a finite number ≥ 0", v.name)}
		}
	}
	if in.Time.IsZero() {
		in.Time = e.now()
	}
	c := e.current.Load()
	d, err := c.decide(ctx, &in)
	if err != nil {
		return nil, err
	}
	d.ID = newDecisionID()
	return d, nil
}

func (c *compiled) decide(ctx context.Context, in *Input) (*sluice.Decision, error) {
	x, err := astValue(newEvalInput(in))
	if err != nil {
		return nil, &sluice.Error{Code: sluice.EINVALID, Step: sluice.StepPolicy, Message: "the query cannot be judged: " + err.Error()}
	}
	rs, err := c.query.Eval(ctx, rego.EvalParsedInput(x))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("evaluate policy: %w", ctx.Err())
		}
		return nil, internal(err, "the policy failed to evaluate")
	}
	d, err := parseDecision(rs)
	if err != nil {
		return nil, internal(err, "the policy returned a malformed decision")
	}
	d.Revision = c.revision
	return d, nil
}

// internal is an internal error of the policy step: the user sees message,
// the chain (for the logs) keeps cause.
func internal(cause error, message string) error {
	return fmt.Errorf("%w: %w", &sluice.Error{Code: sluice.EINTERNAL, Step: sluice.StepPolicy, Message: message}, cause)
}

// newDecisionID is a random decision id: 16 bytes from crypto/rand, in hex.
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// SetAuthorizations replaces the authorizations held in the policy's store
// (data.authorizations, by id), for inputs that name an authorization by
// AuthorizationID instead of carrying it. They survive reloads.
func (e *Engine) SetAuthorizations(ctx context.Context, authorizations []*sluice.Authorization) error {
	stored := make(map[string]storedAuthorization, len(authorizations))
	for i, a := range authorizations {
		if a == nil || a.ID == "" {
			return fmt.Errorf("store authorizations: authorization %d has no id", i)
		}
		stored[a.ID] = storedAuthorization{a, unixNano(a.Terms.ValidFrom), unixNano(a.Terms.ValidUntil)}
	}
	raw, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("store authorizations: %w", err)
	}
	var m map[string]any
	if err := util.UnmarshalJSON(raw, &m); err != nil {
		return fmt.Errorf("store authorizations: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.current.Load()
	if err := storage.WriteOne(ctx, c.store, storage.AddOp, storage.MustParsePath("/authorizations"), m); err != nil {
		return fmt.Errorf("store authorizations: %w", err)
	}
	e.authorizations = m
	return nil
}

// Refusal is the error that refuses a query d does not allow, or nil when d
// allows it: coded sluice.EFORBIDDEN, at Step sluice.StepPolicy, with the
// first reason's rule and every reason's message.
func Refusal(d *sluice.Decision) error {
	if d.Allow {
		return nil
	}
	e := &sluice.Error{Code: sluice.EFORBIDDEN, Step: sluice.StepPolicy, Rule: "default.deny", Message: "no policy rule allows this query"}
	if len(d.Deny) > 0 {
		msgs := make([]string, len(d.Deny))
		for i, r := range d.Deny {
			msgs[i] = r.Message
		}
		e.Rule, e.Message = d.Deny[0].Rule, strings.Join(msgs, "; ")
	}
	return e
}

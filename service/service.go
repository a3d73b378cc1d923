// Package service holds Sluice's use cases. A query's path reads top to
// bottom in Service.Query: analyse, split the budget, rewrite, verify the
// rewrite beside the checks of DuckDB's bound plan in the sandbox, run
// there, release with noise, post-process.
package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"sluice"
	"sluice/policy"
	"sluice/privacy"
	"sluice/query"
	"sluice/sandbox"
	"sluice/storage"
	"sluice/storage/audit"
)

// Catalog is the dataset catalog the service reads.
type Catalog interface {
	Get(id string) (*sluice.Dataset, error)
	List() []*sluice.Dataset
}

// Config wires a Service.
type Config struct {
	Catalog  Catalog
	CacheDir string         // prepared DuckDB files of datasets
	Sandbox  sandbox.Config // limits of each query's sandbox
	Logger   *slog.Logger
	Now      func() time.Time

	// The authorized-operation service also needs these; the command-line
	// tool runs queries without them.
	Store    sluice.Store // control-plane database
	Policy   Policy       // decides every query
	Calendar Calendar     // working days for review deadlines
	Audit    Auditor      // the audit trail; a query whose event cannot be written fails
	Breaker  Breaker      // the risk circuit breaker; nil disables it
	// Budgets caps spending beyond each authorization: per population (the
	// lifetime cap shared by every dataset keyed by the same unit) and per
	// organisation. Dataset caps come from the manifests.
	Budgets Budgets
	// DataDir holds imported dataset versions; Objects, when set, is the
	// object storage datasets with s3:// locations live in.
	DataDir string
	Objects ObjectStore
	// VersionRetention keeps this many newest versions of a dataset after an
	// import (0 keeps all).
	VersionRetention int
}

// Budgets are the ledger scopes above authorizations.
type Budgets struct {
	Populations   map[string]sluice.Cap `yaml:"populations"`
	Organisations map[string]sluice.Cap `yaml:"organisations"`
}

// Auditor appends to the audit trail, and reads it for auditors.
type Auditor interface {
	Append(ctx context.Context, e *sluice.AuditEvent) error
	Query(ctx context.Context, f audit.Filter) ([]sluice.AuditEvent, error)
}

// Policy decides whether a query may run, and under which obligations.
type Policy interface {
	Decide(ctx context.Context, in policy.Input) (*sluice.Decision, error)
}

// Service runs Sluice's use cases.
type Service struct {
	catalog   Catalog
	parser    *query.Parser
	cacheDir  string
	sandbox   sandbox.Config
	log       *slog.Logger
	now       func() time.Time
	store     sluice.Store
	policy    Policy
	calendar  Calendar
	audit     Auditor
	breaker   Breaker
	budgets   Budgets
	pool      *pool
	dataDir   string
	objects   ObjectStore
	retention int
	// fetchedObjs memoises object-store fetches: location → fetched.
	fetchedObjs sync.Map
	// planChecked remembers bounded statements whose bound plans passed
	// both checks in sandboxes exposing exactly the same tables, files,
	// columns and aliases (see planCheckKey).
	planChecked *lru.Cache[[sha256.Size]byte, struct{}]
	// verifying counts the verifications running (see verification);
	// Close waits for them before closing the parser they use.
	verifying sync.WaitGroup
}

// planCheckShapes is how many checked plans a Service remembers.
const planCheckShapes = 4096

// New opens a Service.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("service: no catalog")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("service: no cache directory")
	}
	p, err := query.NewParser(ctx)
	if err != nil {
		return nil, err
	}
	s := &Service{catalog: cfg.Catalog, parser: p, cacheDir: cfg.CacheDir, sandbox: cfg.Sandbox, log: cfg.Logger, now: cfg.Now,
		store: cfg.Store, policy: cfg.Policy, calendar: cfg.Calendar, audit: cfg.Audit, breaker: cfg.Breaker, budgets: cfg.Budgets,
		dataDir: cfg.DataDir, objects: cfg.Objects, retention: cfg.VersionRetention}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.planChecked, err = lru.New[[sha256.Size]byte, struct{}](planCheckShapes); err != nil {
		return nil, err
	}
	s.pool = newPool(func(ctx context.Context, threads int, tables []sandbox.Table) (*sandbox.Sandbox, error) {
		cfg := s.sandbox
		cfg.Threads = threads
		return sandbox.Open(ctx, cfg, tables)
	}, time.Now)
	return s, nil
}

// Close releases the service's resources.
func (s *Service) Close() error {
	s.pool.close()
	s.verifying.Wait()
	return s.parser.Close()
}

// QueryRequest is a query and the obligations it runs under.
type QueryRequest struct {
	SQL         string
	Obligations sluice.Obligations
}

// Explanation is what a query would do, without running it or spending.
type Explanation struct {
	Plan        *sluice.Plan    `json:"plan"`
	Charges     []sluice.Charge `json:"charges"`
	Epsilon     float64         `json:"epsilon"`
	Delta       float64         `json:"delta"`
	SQL         string          `json:"bounded_sql"`
	QuantileSQL string          `json:"quantile_sql,omitempty"`
	analysis    *query.Analysis
	bounded     *query.Bounded
	// verified is Verify of bounded (see verification); nothing reads
	// data before it has passed.
	verified *verification
	// exposed lists, per dataset, the columns the sandbox may expose: the
	// authorization's grants, so that one locked instance serves every
	// query under it. Empty: only the query's own columns.
	exposed map[string][]string
}

// Result is a finished query.
type Result struct {
	Plan     *sluice.Plan    `json:"plan"`
	Release  *sluice.Release `json:"release"`
	Duration time.Duration   `json:"duration_ns"`
}

// Explain analyses, splits the budget and rewrites a query, and verifies
// the rewrite.
func (s *Service) Explain(ctx context.Context, req QueryRequest) (*Explanation, error) {
	ex, err := s.explainSQL(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := ex.verified.wait(); err != nil {
		return nil, err
	}
	return ex, nil
}

// Check runs everything a query does before DuckDB reads its data:
// analysis, the budget split, the rewrite and its verification, and the
// checks of DuckDB's bound plans in the query's sandbox. It is the fixed
// per-query cost.
func (s *Service) Check(ctx context.Context, req QueryRequest) (*Explanation, error) {
	ex, err := s.explainSQL(ctx, req)
	if err != nil {
		return nil, err
	}
	defer ex.verified.stop() // a request never leaves its verification running
	if err := s.CheckPlans(ctx, ex); err != nil {
		return nil, err
	}
	return ex, nil
}

// explainSQL analyses a query and explains it, its verification still
// running.
func (s *Service) explainSQL(ctx context.Context, req QueryRequest) (*Explanation, error) {
	an, err := s.parser.Analyze(ctx, req.SQL, s.catalog)
	if err != nil {
		return nil, err
	}
	return s.explain(ctx, an, req.Obligations)
}

// verification is Verify of a rewrite. It runs where it is waited for,
// unless the bound-plan checks have to run first (a shape whose checks
// are not remembered): then it runs beside them (start), since the checks
// use another DuckDB instance (the sandbox's, not the parser's), and a
// query of a shape never seen waits for the slower of the two instead of
// both. Run alone it costs no thread hand-off, which on a machine with few
// cores costs more than it saves (measured: 0.6 ms against 0.45 ms for a
// query whose plan checks are remembered).
//
// Beside the checks, the row stages bind in the sandbox before the
// verification has answered. Binding reads no rows, in an instance that
// can reach no file, network, extension or setting; the statement was
// rendered from an analysed plan; and what the checks find is remembered
// for the shape only once the verification passed (checkPlansOnce). Rows
// are read only after both passed. A verification is used by one
// goroutine, the request's.
type verification struct {
	ctx     context.Context
	run     func(context.Context) error // nil once started or finished
	done    chan struct{}               // closed when err is set
	err     error
	started bool
}

// verify prepares Verify of b, unless a statement of its shape passed
// before. Whoever explained the query calls wait before reading data or
// returning it, and stop before returning at all.
func (s *Service) verify(ctx context.Context, an *query.Analysis, b *query.Bounded) *verification {
	v := &verification{ctx: ctx, done: make(chan struct{})}
	run, err := s.parser.Verification(an, b)
	if err != nil || run == nil {
		v.err = err
		close(v.done)
		return v
	}
	v.run = func(ctx context.Context) (err error) {
		defer func() {
			// A panic in the re-analysis of a tree derived from analyst
			// input fails this query, not the process.
			if r := recover(); r != nil {
				s.log.Error("verification panicked", "panic", r, "stack", string(debug.Stack()))
				err = &sluice.Error{Code: sluice.EINTERNAL, Step: sluice.StepAnalysis, Rule: "verify.panic", Message: "the rewrite could not be verified"}
			}
		}()
		return run(ctx)
	}
	return v
}

// start runs the verification in a goroutine of its own, if it has not run.
func (v *verification) start(s *Service) {
	if v.run == nil {
		return
	}
	run := v.run
	v.run, v.started = nil, true
	s.verifying.Add(1)
	go func() {
		defer s.verifying.Done()
		v.err = run(v.ctx)
		close(v.done)
	}()
}

// wait returns Verify's answer, running it here if it has not started.
func (v *verification) wait() error {
	if v.run != nil {
		run := v.run
		v.run = nil
		v.err = run(v.ctx)
		close(v.done)
	}
	<-v.done
	return v.err
}

// stop waits for a verification that started; one that did not never runs.
func (v *verification) stop() {
	if v.started {
		<-v.done
	}
}

// explain splits the budget of an analysed query and rewrites it; the
// caller runs the rewrite's verification (ex.verified) before reading
// data or returning ex.
func (s *Service) explain(ctx context.Context, an *query.Analysis, ob sluice.Obligations) (*Explanation, error) {
	for _, id := range an.Plan.Datasets {
		d, err := s.catalog.Get(id)
		if err != nil {
			return nil, err
		}
		if d.Open == sluice.Closed {
			return nil, &sluice.Error{Code: sluice.EFORBIDDEN, Step: sluice.StepPolicy, Rule: "dataset.closed", Message: fmt.Sprintf("dataset %s is closed", id)}
		}
	}
	charges, err := privacy.Split(an.Plan, ob)
	if err != nil {
		return nil, err
	}
	seed, err := secretSeed()
	if err != nil {
		return nil, err
	}
	b, err := an.Rewrite(ob, seed)
	if err != nil {
		return nil, err
	}
	ex := &Explanation{Plan: an.Plan, Charges: charges, SQL: b.SQL, QuantileSQL: b.QuantileSQL, analysis: an, bounded: b,
		verified: s.verify(ctx, an, b)}
	for _, c := range charges {
		ex.Epsilon += c.Epsilon
		ex.Delta += c.Delta
	}
	return ex, nil
}

// Query runs a query and releases its private result.
func (s *Service) Query(ctx context.Context, req QueryRequest) (*Result, error) {
	start := s.now()
	ex, err := s.explainSQL(ctx, req)
	if err != nil {
		return nil, err
	}
	defer ex.verified.stop() // a request never leaves its verification running
	sel, err := privacy.NewSelection(ex.Plan, req.Obligations)
	if err != nil {
		return nil, err
	}
	if _, err := s.execute(ctx, ex, sel); err != nil {
		return nil, err
	}
	rel, err := sel.Release()
	if err != nil {
		return nil, err
	}
	if err := PostProcess(ex.Plan, rel); err != nil {
		return nil, err
	}
	return &Result{Plan: ex.Plan, Release: rel, Duration: s.now().Sub(start)}, nil
}

// execute runs the bounded SQL in a fresh sandbox that sees only the
// columns the query reads, after checking DuckDB's bound plan, and streams
// its groups into sel: however many groups the data has, none is refused
// for their number and only the selected ones are kept (see
// privacy.Selection). The quantile SQL, if any, runs after the selection
// has ended, and only the kept groups take its samples.
//
// touched reports whether the error came after the sandbox began reading
// data: such a failure is charged.
func (s *Service) execute(ctx context.Context, ex *Explanation, sel *privacy.Selection) (touched bool, err error) {
	sb, key, exposed, read, err := s.sandboxFor(ctx, ex)
	if err != nil {
		return false, err
	}
	healthy := false
	defer func() { s.pool.put(key, sb, healthy) }()
	if err := s.checkPlansOnce(ctx, sb, ex, key, exposed, read); err != nil {
		return false, err
	}
	// What runs is the checked text with the query's secret seed.
	runSQL, runQuantileSQL := ex.bounded.Executable()
	err = sb.Each(ctx, runSQL, nil, func(row []any) error {
		g, err := decodeGroup(ex.Plan, row)
		if err != nil {
			return err
		}
		return sel.Add(g)
	})
	if err != nil {
		if c := sandbox.Cause(err); c != nil {
			s.log.Warn("sandbox query failed", "digest", ex.Plan.Digest, "cause", c)
		}
		// A statement DuckDB could not bind read nothing. (Its shape's
		// checks, remembered from other constants, did not bind it: some
		// constants only DuckDB's binder rejects.)
		return sluice.ErrorRule(err) != sandbox.RuleBind, err
	}
	groups, err := sel.Groups()
	if err != nil {
		return true, err
	}
	if runQuantileSQL != "" {
		sink := newBucketSink(ex.Plan, groups)
		if err := sb.Each(ctx, runQuantileSQL, nil, sink.add); err != nil {
			if c := sandbox.Cause(err); c != nil {
				s.log.Warn("sandbox quantile query failed", "digest", ex.Plan.Digest, "cause", c)
			}
			return true, err
		}
	}
	healthy = true
	return true, nil
}

// sandboxFor prepares the datasets of a query and takes a pooled sandbox
// that sees only the columns the query may read. exposed are the sandbox's
// tables and columns, read the columns the query reads: what the two checks
// of DuckDB's bound plan hold it to (see checkPlans). The caller returns the
// sandbox with s.pool.put(key, sb, healthy).
func (s *Service) sandboxFor(ctx context.Context, ex *Explanation) (sb *sandbox.Sandbox, key string, exposed, read []query.Source, err error) {
	var tables []sandbox.Table
	for _, id := range ex.Plan.Datasets {
		d, err := s.catalog.Get(id)
		if err != nil {
			return nil, "", nil, nil, err
		}
		if strings.HasPrefix(d.Location, "s3://") {
			// Read through the local cache; a corrupt or partial download is
			// never returned.
			if s.objects == nil {
				return nil, "", nil, nil, sluice.Errorf(sluice.EUNAVAILABLE, "dataset %s lives in object storage, which is not configured", id)
			}
			path, sum, err := s.fetch(ctx, d.Location)
			if err != nil {
				return nil, "", nil, nil, err
			}
			local := *d
			local.Location, local.Checksum = path, sum
			d = &local
		}
		file, err := storage.Prepare(ctx, d, s.cacheDir)
		if err != nil {
			return nil, "", nil, nil, fmt.Errorf("prepare dataset %s: %w", id, err)
		}
		cols := ex.bounded.Tables[id]
		if exp := ex.exposed[id]; len(exp) > 0 {
			// What the grant exposes, and the prepared file's unit
			// number and hash, which the bounded SQL groups on and draws
			// groups from.
			cols = exp
			for _, c := range []string{sluice.UnitIDColumn, sluice.UnitHashColumn} {
				if !slices.Contains(cols, c) {
					cols = append(slices.Clip(cols), c)
				}
			}
		}
		tables = append(tables, sandbox.Table{Name: id, File: file, Columns: cols})
	}
	// Small datasets gain nothing from parallel scans, and concurrent
	// queries then do not oversubscribe the cores.
	threads := s.sandbox.Threads
	if threads == 0 {
		threads = sandbox.DefaultThreads
	}
	var size int64
	for _, t := range tables {
		if info, err := os.Stat(t.File); err == nil {
			size += info.Size()
		}
	}
	if size < smallData {
		threads = 1
	}
	if sb, key, err = s.pool.get(ctx, threads, tables); err != nil {
		return nil, "", nil, nil, err
	}
	for _, t := range tables {
		alias, ok := sb.Source(t.Name)
		if !ok {
			s.pool.put(key, sb, false)
			return nil, "", nil, nil, fmt.Errorf("sandbox lost dataset %s", t.Name)
		}
		exposed = append(exposed, query.Source{Catalog: alias, Columns: t.Columns})
		read = append(read, query.Source{Catalog: alias, Columns: ex.bounded.Tables[t.Name]})
	}
	return sb, key, exposed, read, nil
}

// CheckPlans runs what the execution of an explained query would before
// DuckDB reads any data: it takes the sandbox and checks DuckDB's bound
// plans, unless a statement of the same shape passed them before, and
// waits for the rewrite's verification.
func (s *Service) CheckPlans(ctx context.Context, ex *Explanation) error {
	sb, key, exposed, read, err := s.sandboxFor(ctx, ex)
	if err != nil {
		return err
	}
	err = s.checkPlansOnce(ctx, sb, ex, key, exposed, read)
	s.pool.put(key, sb, err == nil)
	return err
}

// ForgetChecks drops every check the service remembers (verified
// statements and layouts, bound-plan checks): the next query of any shape
// is checked in full, as the first of its shape is. For measuring that
// cost.
func (s *Service) ForgetChecks() {
	s.parser.Forget()
	s.planChecked.Purge()
}

// checkPlansOnce runs checkPlans unless row stages of the same shape, in
// a sandbox of the same tables, passed them before, and the rewrite's
// verification, beside the checks when they run: nil means both passed.
// A shape's checks are remembered only once its verification passed.
func (s *Service) checkPlansOnce(ctx context.Context, sb *sandbox.Sandbox, ex *Explanation, poolKey string, exposed, read []query.Source) error {
	checkKey := planCheckKey(poolKey, exposed, read, ex.bounded.PlanShapes()...)
	if _, ok := s.planChecked.Get(checkKey); ok {
		return ex.verified.wait()
	}
	ex.verified.start(s)
	complete, err := s.checkPlans(ctx, sb, ex, exposed, read)
	if verr := ex.verified.wait(); err == nil {
		err = verr
	}
	if err != nil {
		return err
	}
	if complete {
		s.planChecked.Add(checkKey, struct{}{})
	}
	return nil
}

// planCheckKey names what the bound-plan checks of a statement depend on:
// the sandbox's exposed tables (its pool key: names, files, columns,
// threads), the aliases and columns checked, and the shapes of the checked
// row stages (the classes of analyst constants, not their values, and no
// number's value: see Bounded.PlanShapes).
func planCheckKey(poolKey string, exposed, read []query.Source, sqls ...string) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(poolKey), poolKey)
	for _, set := range [][]query.Source{exposed, read} {
		fmt.Fprintf(h, "|%d", len(set))
		for _, src := range set {
			fmt.Fprintf(h, "|%d:%s|%d", len(src.Catalog), src.Catalog, len(src.Columns))
			for _, c := range src.Columns {
				fmt.Fprintf(h, "|%d:%s", len(c), c)
			}
		}
	}
	for _, q := range sqls {
		fmt.Fprintf(h, "|%d:%s", len(q), q)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// checkPlans checks DuckDB's bound plans of the query's row stages in sb:
// before optimization every scan must bind to an authorised table and
// expose only authorised columns; after it (column pruning), they may read
// only what this query reads.
//
// The row stages hold every scan of a statement: Verify refused any
// dataset named outside them in DuckDB's parse of the whole statement, and
// the stages after them read only __rows. Binding the whole statement
// would cost 1.5 ms more per new shape and could show no other scan.
//
// complete is false when the optimizer removed a scan (statistics ruled
// out its filter, for the constants of this query): the check of what the
// others of its shape read then saw less than they may, and is not to be
// remembered for them.
func (s *Service) checkPlans(ctx context.Context, sb *sandbox.Sandbox, ex *Explanation, exposed, read []query.Source) (complete bool, err error) {
	stages := ex.bounded.RowStages()
	scans := make([]int, len(stages))
	for i, q := range stages {
		js, err := sb.SerializePlan(ctx, q)
		if err != nil {
			return false, err
		}
		if err := query.CheckBoundPlan(js, exposed); err != nil {
			return false, err
		}
		scans[i] = query.PlanScans(js)
	}
	// When the sandbox exposes only what the query reads, the checks above
	// already hold every scan to those columns: an optimized plan could
	// show no more.
	if sameSources(exposed, read) {
		return true, nil
	}
	complete = true
	for i, q := range stages {
		js, err := sb.SerializeOptimizedPlan(ctx, q)
		if err != nil {
			return false, err
		}
		if err := query.CheckBoundPlan(js, read); err != nil {
			return false, err
		}
		if query.PlanScans(js) < scans[i] {
			complete = false
		}
	}
	return complete, nil
}

// sameSources reports whether a and b name the same catalogs with the same
// columns, in any order.
func sameSources(a, b []query.Source) bool {
	if len(a) != len(b) {
		return false
	}
	cols := func(set []query.Source) map[string]bool {
		m := map[string]bool{}
		for _, s := range set {
			for _, c := range s.Columns {
				m[s.Catalog+"\x00"+strings.ToLower(c)] = true
			}
		}
		return m
	}
	return maps.Equal(cols(a), cols(b))
}

// fetchTTL is how long a fetched object is used without asking the object
// store again. Dataset versions are written to new keys, so an object at a
// location does not change under Sluice; the TTL bounds the staleness if it
// is overwritten from outside. It is far below the object cache's minimum
// eviction age, so a memoised file is still there.
const fetchTTL = 30 * time.Second

type fetched struct {
	path, sha256 string
	at           time.Time
}

// fetch reads an object through the object cache, remembering the answer
// for fetchTTL so that warm queries cost no round trip.
func (s *Service) fetch(ctx context.Context, loc string) (string, string, error) {
	if v, ok := s.fetchedObjs.Load(loc); ok {
		f := v.(fetched)
		if time.Since(f.at) < fetchTTL {
			if _, err := os.Stat(f.path); err == nil {
				return f.path, f.sha256, nil
			}
		}
	}
	path, obj, err := s.objects.Fetch(ctx, loc)
	if err != nil {
		return "", "", err
	}
	s.fetchedObjs.Store(loc, fetched{path: path, sha256: obj.SHA256, at: time.Now()})
	return path, obj.SHA256, nil
}

// smallData is the size of prepared dataset files below which a query runs
// on one thread.
const smallData = 64 << 20

// secretSeed draws the per-query seed that keys contribution bounding.
func secretSeed() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// Command sluiced is the Sluice server: the HTTP API over the query path,
// the application and review workflow, and the policy.
//
//	sluiced -config sluiced.yaml
//	sluiced -data sluice-data -demo     # example data and a demo identity setup
package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"sluice"
	"sluice/api"
	"sluice/auth"
	"sluice/examples/gen"
	"sluice/policy"
	"sluice/risk"
	"sluice/sandbox"
	"sluice/service"
	"sluice/storage"
	"sluice/storage/audit"
	"sluice/storage/bolt"
	"sluice/storage/s3"
)

// Config is sluiced's configuration file; SLUICE_* environment variables
// override it.
type Config struct {
	Listen   string `yaml:"listen"`
	DataDir  string `yaml:"data_dir"`
	Demo     bool   `yaml:"demo"` // generate example data and a development identity setup if missing
	LogLevel string `yaml:"log_level"`
	Auth     struct {
		Issuer      string `yaml:"issuer"`
		Audience    string `yaml:"audience"`
		JWKSFile    string `yaml:"jwks_file"`
		JWKSURL     string `yaml:"jwks_url"`
		Development bool   `yaml:"development"` // allow HS256 with hmac_secret
		HMACSecret  string `yaml:"hmac_secret"`
	} `yaml:"auth"`
	PolicyDir string `yaml:"policy_dir"` // "" = the embedded default bundle
	Sandbox   struct {
		Threads int           `yaml:"threads"`
		Memory  string        `yaml:"memory"`
		Timeout time.Duration `yaml:"timeout"`
	} `yaml:"sandbox"`
	Holidays      []string      `yaml:"holidays"`
	Workdays      []string      `yaml:"workdays"`
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	DemoScale     float64       `yaml:"demo_scale"`
	// Budgets caps spending above authorizations: a lifetime cap per
	// population and optional caps per organisation.
	Budgets service.Budgets `yaml:"budgets"`
	// VersionRetention keeps this many newest versions of each dataset
	// (0 keeps all).
	VersionRetention int `yaml:"version_retention"`
	// Breaker configures the risk circuit breaker.
	Breaker struct {
		Disabled bool `yaml:"disabled"`
	} `yaml:"breaker"`
}

func defaults() Config {
	var c Config
	c.Listen = "127.0.0.1:8470"
	c.DataDir = "sluice-data"
	c.LogLevel = "info"
	c.Auth.Issuer = "sluice-dev"
	c.Auth.Audience = "sluice"
	c.Sandbox.Threads = 2
	c.Sandbox.Memory = "2GB"
	c.Sandbox.Timeout = 60 * time.Second
	c.ShutdownGrace = 30 * time.Second
	c.DemoScale = 1
	c.Budgets.Populations = map[string]sluice.Cap{
		"enterprise": {Epsilon: 200, Delta: 1e-4, Accounting: "zcdp"},
		"person":     {Epsilon: 50, Delta: 1e-5, Accounting: "zcdp"},
	}
	return c
}

// env applies SLUICE_* overrides.
func (c *Config) env(getenv func(string) string) error {
	str := map[string]*string{
		"SLUICE_LISTEN": &c.Listen, "SLUICE_DATA_DIR": &c.DataDir, "SLUICE_LOG_LEVEL": &c.LogLevel,
		"SLUICE_AUTH_ISSUER": &c.Auth.Issuer, "SLUICE_AUTH_AUDIENCE": &c.Auth.Audience,
		"SLUICE_AUTH_JWKS_FILE": &c.Auth.JWKSFile, "SLUICE_AUTH_JWKS_URL": &c.Auth.JWKSURL,
		"SLUICE_AUTH_HMAC_SECRET": &c.Auth.HMACSecret, "SLUICE_POLICY_DIR": &c.PolicyDir,
		"SLUICE_SANDBOX_MEMORY": &c.Sandbox.Memory,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	for k, p := range map[string]*bool{"SLUICE_DEMO": &c.Demo, "SLUICE_AUTH_DEVELOPMENT": &c.Auth.Development} {
		if v := getenv(k); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			*p = b
		}
	}
	if v := getenv("SLUICE_SANDBOX_THREADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("SLUICE_SANDBOX_THREADS: %w", err)
		}
		c.Sandbox.Threads = n
	}
	return nil
}

// Main is the server program: flags and configuration in, the pieces
// wired together, run until a signal.
type Main struct {
	Config Config
	log    *slog.Logger
	store  *bolt.Store
	audit  *audit.Log
	svc    *service.Service
	policy *policy.Engine
	server *http.Server
	api    *api.Server
	ln     net.Listener
	stderr io.Writer
}

// ParseFlags reads flags, the configuration file, and the environment.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("sluiced", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML configuration file")
	data := fs.String("data", "", "data directory (overrides the file)")
	listen := fs.String("listen", "", "listen address (overrides the file)")
	demo := fs.Bool("demo", false, "generate example data and a development identity setup if missing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m.Config = defaults()
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&m.Config); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", *configPath, err)
		}
	}
	if err := m.Config.env(getenv); err != nil {
		return err
	}
	if *data != "" {
		m.Config.DataDir = *data
	}
	if *listen != "" {
		m.Config.Listen = *listen
	}
	if *demo {
		m.Config.Demo = true
	}
	return nil
}

// Run starts the server; it returns once listening.
func (m *Main) Run(ctx context.Context) error {
	c := &m.Config
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	m.log = slog.New(slog.NewJSONHandler(m.stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return err
	}
	if c.Demo {
		if err := m.demoSetup(ctx); err != nil {
			return err
		}
	}
	store, err := bolt.Open(filepath.Join(c.DataDir, "control.db"))
	if err != nil {
		return err
	}
	m.store = store
	alog, err := m.openAudit()
	if err != nil {
		return err
	}
	m.audit = alog
	pol, err := policy.New(ctx, policy.Options{Dir: c.PolicyDir, Logger: m.log, OnReload: func(rev string, err error) {
		ev := &sluice.AuditEvent{Kind: "policy.reloaded", Principal: "sluiced", Details: map[string]any{"revision": rev}}
		if err != nil {
			ev.Kind, ev.Details["error"] = "policy.refused", err.Error()
		}
		if aerr := alog.Append(context.Background(), ev); aerr != nil {
			m.log.Error("audit of a policy reload failed", "err", aerr)
		}
	}})
	if err != nil {
		return err
	}
	m.policy = pol
	if c.PolicyDir != "" {
		go pol.Watch(ctx, 2*time.Second)
	}
	cat := &service.StoreCatalog{Store: store, Dir: c.DataDir}
	// Object storage, when SLUICE_S3_ENDPOINT is set (credentials only from
	// the environment; never logged).
	var objects service.ObjectStore
	if s3cfg := s3.ConfigFromEnv(); s3cfg.Endpoint != "" {
		if s3cfg.CacheDir == "" {
			s3cfg.CacheDir = filepath.Join(c.DataDir, ".object-cache")
		}
		st, err := s3.Open(ctx, s3cfg)
		if err != nil {
			return err
		}
		objects = st
		m.log.Info("object storage", "config", s3cfg)
	}
	svc, err := service.New(ctx, service.Config{
		Catalog:          cat,
		CacheDir:         filepath.Join(c.DataDir, ".sluice-cache"),
		Sandbox:          sandbox.Config{Threads: c.Sandbox.Threads, MemoryLimit: c.Sandbox.Memory, Timeout: c.Sandbox.Timeout, DisableFileSystem: true},
		Logger:           m.log,
		Store:            store,
		Policy:           pol,
		Calendar:         service.Calendar{Holidays: c.Holidays, Workdays: c.Workdays},
		Audit:            alog,
		Breaker:          m.breaker(),
		Budgets:          c.Budgets,
		DataDir:          c.DataDir,
		Objects:          objects,
		VersionRetention: c.VersionRetention,
	})
	if err != nil {
		return err
	}
	m.svc = svc
	// After a crash, reservations left open count as spent.
	n, err := svc.RecoverLedger(ctx)
	if err != nil {
		return fmt.Errorf("ledger recovery: %w", err)
	}
	if n > 0 {
		m.log.Warn("committed reservations left open by a crash", "count", n)
		if err := alog.Append(ctx, &sluice.AuditEvent{Kind: "ledger.recovered", Principal: "sluiced", Details: map[string]any{"committed": n}}); err != nil {
			return err
		}
	}
	// Seed the catalog with the manifests found in the data directory.
	if fs, _ := filepath.Glob(filepath.Join(c.DataDir, "*.yaml")); len(fs) > 0 {
		local, err := storage.OpenCatalog(c.DataDir)
		if err != nil {
			return err
		}
		if err := svc.Seed(ctx, local.List(), c.DataDir); err != nil {
			return err
		}
	}
	verifier, err := m.verifier()
	if err != nil {
		return err
	}
	m.api = api.NewServer(svc, verifier, api.Options{Logger: m.log, Ready: func(ctx context.Context) error { return nil }})
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	m.ln = ln
	m.server = &http.Server{Handler: m.api, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("serve", "err", err)
		}
	}()
	m.log.Info("sluiced listening", "addr", ln.Addr().String(), "data_dir", c.DataDir, "demo", c.Demo)
	return nil
}

func (m *Main) verifier() (*auth.Verifier, error) {
	c := &m.Config
	cfg := auth.Config{Issuer: c.Auth.Issuer, Audience: c.Auth.Audience, JWKSFile: c.Auth.JWKSFile, JWKSURL: c.Auth.JWKSURL, DevelopmentMode: c.Auth.Development}
	if c.Auth.HMACSecret != "" {
		cfg.HMACSecret = []byte(c.Auth.HMACSecret)
	}
	if cfg.JWKSFile == "" && cfg.JWKSURL == "" && c.Demo {
		cfg.JWKSFile = filepath.Join(c.DataDir, "dev", "jwks.json")
	}
	return auth.NewVerifier(cfg)
}

// demoSetup generates the example data and a development signing key with
// its JWKS, when missing.
func (m *Main) demoSetup(ctx context.Context) error {
	c := &m.Config
	if _, err := os.Stat(filepath.Join(c.DataDir, "enterprise.yaml")); err != nil {
		m.log.Info("generating example data", "dir", c.DataDir, "scale", c.DemoScale)
		if err := gen.Generate(ctx, c.DataDir, gen.Scale(c.DemoScale)); err != nil {
			return err
		}
	}
	dev := filepath.Join(c.DataDir, "dev")
	keyPath := filepath.Join(dev, "signing.pem")
	if _, err := os.Stat(keyPath); err == nil {
		return nil
	}
	if err := os.MkdirAll(dev, 0o700); err != nil {
		return err
	}
	key, err := auth.GenerateKey(auth.ES256)
	if err != nil {
		return err
	}
	if err := auth.WriteKeyFile(keyPath, key); err != nil {
		return err
	}
	jwks, err := auth.JWKS(map[string]crypto.PublicKey{"dev-1": key.Public()})
	if err != nil {
		return err
	}
	m.log.Info("created a development signing key; mint tokens with 'sluice dev token'", "key", keyPath)
	return os.WriteFile(filepath.Join(dev, "jwks.json"), jwks, 0o644)
}

// openAudit opens the audit trail in the data directory, creating its
// signing key (and the public key auditors verify with) on first start.
func (m *Main) openAudit() (*audit.Log, error) {
	dir := filepath.Join(m.Config.DataDir, "audit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, "signing.pem")
	key, err := audit.ReadKey(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		if key, err = audit.GenerateKey(); err != nil {
			return nil, err
		}
		if err := audit.WriteKey(keyPath, key); err != nil {
			return nil, err
		}
		if err := audit.WritePublicKey(filepath.Join(dir, "signing.pub"), key.Public().(ed25519.PublicKey)); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return audit.Open(filepath.Join(dir, "audit.log"), key, audit.Options{CheckpointEvery: 100, CheckpointInterval: time.Minute})
}

func (m *Main) breaker() service.Breaker {
	if m.Config.Breaker.Disabled {
		return nil
	}
	return risk.New(risk.DefaultRules(), time.Now)
}

// Addr is the address the server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Close drains: new queries are refused, in-flight ones finish within the
// grace period, then everything closes.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.api != nil {
		m.api.Drain()
	}
	if m.server != nil {
		sctx, cancel := context.WithTimeout(ctx, m.Config.ShutdownGrace)
		defer cancel()
		errs = append(errs, m.server.Shutdown(sctx))
	}
	if m.svc != nil {
		errs = append(errs, m.svc.Close())
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
	}
	if m.audit != nil {
		errs = append(errs, m.audit.Close()) // a final signed checkpoint
	}
	return errors.Join(errs...)
}

func main() {
	// The Go heap of a decision is small and short-lived (DuckDB's memory is
	// outside it); collecting less often keeps the policy's p99 under 1 ms.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{stderr: os.Stderr}
	if err := m.ParseFlags(os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sluiced:", err)
		os.Exit(1)
	}
	<-ctx.Done()
	m.log.Info("shutting down")
	if err := m.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "sluiced: shutdown:", err)
		os.Exit(1)
	}
}

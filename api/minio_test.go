package api

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"sluice"
	"sluice/service"
	"sluice/storage"
	"sluice/storage/s3"
	"sluice/storage/s3/miniotest"
)

// A dataset in real object storage: an owner imports a CSV version (checked,
// converted, uploaded to MinIO, published); queries read it through the
// cache; a new version is seen by the next query, which the release cache
// does not answer with the old version's release; credentials never show.
func TestDatasetInObjectStorage(t *testing.T) {
	srv := miniotest.Start(t)
	raw, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := raw.MakeBucket(ctx, "datasets", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := s3.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, CacheDir: t.TempDir()}
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("object storage", "config", cfg)
	objects, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOptions{objects: objects, retention: 1})
	s.registerExamples(t)
	owner := s.token(t, "wang.fang", "shanghai-tax-bureau", sluice.RoleOwner)
	// Move tax_monthly to object storage.
	d, err := storage.LoadManifest(filepath.Join(s.data, "tax_monthly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.FPutObject(ctx, "datasets", "tax_monthly/seed.parquet", filepath.Join(s.data, "tax_monthly.parquet"), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Location = "s3://datasets/tax_monthly/seed.parquet"
	d.Version = "seed"
	s.must(t, 200, s.do(t, "PUT", "/v1/datasets/tax_monthly", owner, d, ""))

	csvOf := func(where string) []byte {
		db, _ := sql.Open("duckdb", "")
		defer db.Close()
		out := filepath.Join(t.TempDir(), "v.csv")
		if _, err := db.Exec("COPY (SELECT * FROM '" + filepath.Join(s.data, "tax_monthly.parquet") + "' WHERE " + where + ") TO '" + out + "' (HEADER)"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		return b
	}
	importCSV := func(version string, body []byte) reply {
		req, _ := http.NewRequest("POST", s.url+"/v1/datasets/tax_monthly/versions?format=csv&version="+version, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+owner)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, body: b}
	}
	// A file that does not fit the manifest is refused with its report.
	bad := strings.Replace(string(csvOf("true")), "filing_status", "status_of_filing", 1)
	r := importCSV("broken", []byte(bad))
	if r.status != 400 || !strings.Contains(string(r.body), "filing_status") || !strings.Contains(string(r.body), "report") {
		t.Fatalf("bad import: %d %.300s", r.status, r.body)
	}
	s.clock.Add(time.Minute)
	s.must(t, 201, importCSV("2025.12.1", csvOf("true")))

	bank, authID := s.authorize(t, []sluice.Grant{{Dataset: "tax_monthly", Columns: []string{"credit_code", "tax_paid", "filing_status"}}},
		sluice.Budget{Epsilon: 10, Delta: 1e-5, EpsilonPerQuery: 0.5, DeltaPerQuery: 1e-6}, 0)
	count := func() (float64, bool) {
		var q QueryResponse
		s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, service.Run{Authorization: authID, SQL: "SELECT count(*) FROM tax_monthly"}, "")).decode(t, &q)
		return *q.Release.Rows[0][0].Number, q.Release.Cached
	}
	n1, _ := count()
	if _, cached := count(); !cached {
		t.Error("the same query on the same version was not answered from the cache")
	}
	// Version 2: half of the firms.
	s.clock.Add(time.Minute)
	s.must(t, 201, importCSV("2026.01", csvOf("hash(credit_code) % 2 = 0")))
	n2, cached := count()
	if cached || n2 >= n1*0.75 {
		t.Errorf("after the new version: count %v (was %v), cached %v", n2, n1, cached)
	}
	var vs struct{ Versions []sluice.Dataset }
	s.must(t, 200, s.do(t, "GET", "/v1/datasets/tax_monthly/versions", owner, nil, "")).decode(t, &vs)
	if len(vs.Versions) != 1 || !strings.HasPrefix(vs.Versions[0].Location, "s3://datasets/tax_monthly/2026.01") {
		t.Errorf("versions %+v", vs.Versions)
	}
	// Retention (1 version) retired the seed and 2025.12.1. The imported
	// 2025.12.1's object is gone from the server; the seed's, which its owner
	// registered, is theirs and stays; the current one is there.
	stat := func(key string) error {
		_, err := raw.StatObject(ctx, "datasets", key, minio.StatObjectOptions{})
		return err
	}
	if err := stat("tax_monthly/2025.12.1.parquet"); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("retired imported version's object: %v, want NoSuchKey", err)
	}
	for _, key := range []string{"tax_monthly/seed.parquet", "tax_monthly/2026.01.parquet"} {
		if err := stat(key); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	// A version name is never reused, retired or not; nor is an object
	// Sluice did not write overwritten.
	if r := importCSV("2025.12.1", csvOf("true")); r.status != 409 {
		t.Errorf("re-import of retired version 2025.12.1: %d %.200s", r.status, r.body)
	}
	if _, err := raw.PutObject(ctx, "datasets", "tax_monthly/2026.02.parquet", strings.NewReader("someone else's"), 14, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := importCSV("2026.02", csvOf("true")); r.status != 409 || !strings.Contains(string(r.body), "already exists") {
		t.Errorf("import over an existing object: %d %.200s", r.status, r.body)
	}
	if strings.Contains(logs.String(), srv.SecretKey) {
		t.Error("the secret key appears in the logs")
	}
	// Wrong credentials: the error names the object, never the secret.
	badObjects, err := s3.Open(ctx, s3.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: "not-" + srv.SecretKey, CacheDir: t.TempDir()})
	if err == nil {
		_, _, err = badObjects.Fetch(ctx, "s3://datasets/tax_monthly/2026.01.parquet")
	}
	if err == nil || strings.Contains(err.Error(), srv.SecretKey) {
		t.Errorf("bad credentials: %v", err)
	}
}

package sluice

import "time"

// AuditEvent is one record of the append-only audit trail: a control-plane
// change or a query (released, refused or failed). The audit log chains
// events by hash and signs checkpoints.
type AuditEvent struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Kind is "query" or a control-plane change: "application.submitted",
	// "authorization.suspended", "dataset.registered", "policy.reloaded",
	// "breaker.tripped", "checkpoint", …
	Kind          string   `json:"kind"`
	Principal     string   `json:"principal,omitempty"`
	Organisation  string   `json:"organisation,omitempty"`
	Authorization string   `json:"authorization,omitempty"`
	Datasets      []string `json:"datasets,omitempty"`
	// Query fields.
	RequestID     string         `json:"request_id,omitempty"`
	SQL           string         `json:"sql,omitempty"`
	PlanDigest    string         `json:"plan_digest,omitempty"`
	Decision      *Decision      `json:"decision,omitempty"`
	Outcome       string         `json:"outcome,omitempty"` // released, cached, replayed (a retry's stored release), refused, failed
	Refusal       *Error         `json:"refusal,omitempty"`
	Epsilon       float64        `json:"epsilon,omitempty"`
	Delta         float64        `json:"delta,omitempty"`
	Groups        int            `json:"groups,omitempty"`     // released groups
	Suppressed    int            `json:"suppressed,omitempty"` // suppression records
	ReleaseDigest string         `json:"release_digest,omitempty"`
	DurationMS    int64          `json:"duration_ms,omitempty"`
	Details       map[string]any `json:"details,omitempty"`
	// Chain fields, set by the log.
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

package sluice

import "time"

// Roles a principal can hold.
const (
	RoleOwner    = "owner"    // a data owner (department): registers datasets
	RoleAnalyst  = "analyst"  // applies for access and runs queries
	RoleReviewer = "reviewer" // the operations team: reviews and decides
	RoleAuditor  = "auditor"  // reads and verifies the audit log
	RoleAdmin    = "admin"    // policies, keys, settings; never queries
)

// Principal is an authenticated caller.
type Principal struct {
	Subject      string   `json:"subject"`
	Organisation string   `json:"organisation"`
	Roles        []string `json:"roles"`
}

// Has reports whether p holds role.
func (p *Principal) Has(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Grant names a dataset and the columns an application asks for or an
// authorization allows.
type Grant struct {
	Dataset string   `json:"dataset"`
	Columns []string `json:"columns"`
}

// Budget is a privacy budget: in total, and the cap of one query.
type Budget struct {
	Epsilon         float64 `json:"epsilon"`
	Delta           float64 `json:"delta"`
	EpsilonPerQuery float64 `json:"epsilon_per_query"`
	DeltaPerQuery   float64 `json:"delta_per_query"`
}

// Terms are what an application requests and an authorization allows.
type Terms struct {
	Purpose     string    `json:"purpose"` // the application scenario, e.g. "inclusive-finance-sme-credit"
	Description string    `json:"description,omitempty"`
	Grants      []Grant   `json:"grants"`
	ValidFrom   time.Time `json:"valid_from"`
	ValidUntil  time.Time `json:"valid_until"`
	Budget      Budget    `json:"budget"`
	MinUnits    int64     `json:"min_units"`            // minimum noisy units per released group
	Aggregates  []AggFunc `json:"aggregates,omitempty"` // allowed aggregates; empty = all
	L0          int64     `json:"l0,omitempty"`         // groups per unit; 0 = policy default
	Linf        int64     `json:"linf,omitempty"`       // rows per unit per group; 0 = policy default
	// Accounting is how the budget composes: pure (default: a few Laplace
	// releases) or zcdp (many releases). Fixed when the authorization is
	// first charged.
	Accounting string `json:"accounting,omitempty"`
}

// Application states.
const (
	AppSubmitted   = "submitted"
	AppUnderReview = "under_review"
	AppApproved    = "approved"
	AppRejected    = "rejected"
	AppWithdrawn   = "withdrawn"
)

// Transition records one change of state: who, when, why.
type Transition struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	By     string    `json:"by"` // subject
	Org    string    `json:"organisation"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Application is a request for access, reviewed by the operations team.
type Application struct {
	ID            string       `json:"id"`
	Applicant     string       `json:"applicant"` // subject
	Organisation  string       `json:"organisation"`
	Principals    []string     `json:"principals,omitempty"` // subjects who may use the authorization; empty = the applicant's organisation
	Terms         Terms        `json:"terms"`
	State         string       `json:"state"`
	SubmittedAt   time.Time    `json:"submitted_at"`
	DueAt         time.Time    `json:"due_at"` // decision due: 10 working days after submission
	Reviewer      string       `json:"reviewer,omitempty"`
	Authorization string       `json:"authorization,omitempty"`
	History       []Transition `json:"history"`
}

// Authorization states. Expiry is by date, not stored: see Authorization.StateAt.
const (
	AuthActive    = "active"
	AuthSuspended = "suspended"
	AuthRevoked   = "revoked"
	AuthExpired   = "expired"
)

// Authorization is an approved application's terms, as narrowed by the
// reviewer, and its state.
type Authorization struct {
	ID           string       `json:"id"`
	Application  string       `json:"application"`
	Organisation string       `json:"organisation"`
	Principals   []string     `json:"principals,omitempty"`
	Terms        Terms        `json:"terms"`
	State        string       `json:"state"`
	ApprovedBy   string       `json:"approved_by"`
	ApprovedAt   time.Time    `json:"approved_at"`
	History      []Transition `json:"history"`
}

// StateAt is the authorization's state at t: an active authorization
// outside its validity period is expired.
func (a *Authorization) StateAt(t time.Time) string {
	if a.State == AuthActive && (t.Before(a.Terms.ValidFrom) || !t.Before(a.Terms.ValidUntil)) {
		return AuthExpired
	}
	return a.State
}

// Decision is the policy's answer for one query.
type Decision struct {
	ID          string      `json:"decision_id"`
	Allow       bool        `json:"allow"`
	Deny        []Reason    `json:"deny,omitempty"`
	Obligations Obligations `json:"obligations"`
	Revision    string      `json:"revision"` // the policy bundle revision that decided
}

// Reason is one rule's refusal.
type Reason struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

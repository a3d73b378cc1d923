package policy

import (
	"math"
	"time"

	"sluice"
)

// Input is what the policy judges: Rego sees it as input, with the JSON
// names of its fields.
type Input struct {
	Principal sluice.Principal `json:"principal"`
	// Authorization is the authorization the query runs under; nil when none
	// was named. Decide adds its effective_state: its state at Time, expiry
	// by date included (sluice.Authorization.StateAt), so that Rego does not
	// compute dates.
	Authorization *sluice.Authorization `json:"authorization"`
	// AuthorizationID names an authorization held in the engine's store (see
	// Engine.SetAuthorizations) when Authorization is nil.
	AuthorizationID string `json:"authorization_id,omitempty"`
	// Datasets are the catalog entries of the plan's datasets, by id.
	Datasets map[string]*sluice.Dataset `json:"datasets"`
	Plan     *sluice.Plan               `json:"plan"`
	Request  Request                    `json:"request"`
	// Time is when the query is decided; Decide sets it from Options.Now when
	// it is zero.
	Time time.Time `json:"time"`
}

// Request is what the caller asks for one query.
type Request struct {
	Epsilon float64 `json:"epsilon"` // 0 = the authorization's per-query cap
	Delta   float64 `json:"delta"`   // 0 = the authorization's per-query cap
}

// evalInput is Input as Rego receives it.
type evalInput struct {
	Principal       sluice.Principal           `json:"principal"`
	Authorization   *authorizationInput        `json:"authorization"`
	AuthorizationID string                     `json:"authorization_id,omitempty"`
	Datasets        map[string]*sluice.Dataset `json:"datasets"`
	Plan            *sluice.Plan               `json:"plan"`
	Request         Request                    `json:"request"`
	Time            time.Time                  `json:"time"`
	TimeNS          int64                      `json:"time_ns"`
}

// authorizationInput is an authorization with its state at the time of the query.
type authorizationInput struct {
	*sluice.Authorization
	EffectiveState string `json:"effective_state"`
}

// storedAuthorization is an authorization as Engine.SetAuthorizations keeps
// it in data.authorizations: its validity period in Unix nanoseconds, so
// that Rego can tell expiry with a comparison against input.time_ns.
type storedAuthorization struct {
	*sluice.Authorization
	ValidFromNS  int64 `json:"valid_from_ns"`
	ValidUntilNS int64 `json:"valid_until_ns"`
}

func newEvalInput(in *Input) *evalInput {
	x := &evalInput{
		Principal:       in.Principal,
		AuthorizationID: in.AuthorizationID,
		Datasets:        in.Datasets,
		Plan:            in.Plan,
		Request:         in.Request,
		Time:            in.Time,
		TimeNS:          unixNano(in.Time),
	}
	if in.Authorization != nil {
		x.Authorization = &authorizationInput{in.Authorization, in.Authorization.StateAt(in.Time)}
		x.AuthorizationID = ""
	}
	for _, d := range in.Datasets {
		if d == nil { // an unknown dataset: leave it out, the policy refuses it
			x.Datasets = known(in.Datasets)
			break
		}
	}
	return x
}

// known is datasets without its nil entries.
func known(datasets map[string]*sluice.Dataset) map[string]*sluice.Dataset {
	m := make(map[string]*sluice.Dataset, len(datasets))
	for id, d := range datasets {
		if d != nil {
			m[id] = d
		}
	}
	return m
}

// unixNano is t in Unix nanoseconds, clamped to the int64 range; the zero
// time is the earliest instant, as time.Time orders it.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

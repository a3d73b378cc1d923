package auth

import "sluice"

// Rules of refusal. Each refused token yields a *sluice.Error with code
// sluice.EUNAUTHORIZED and one of these rules.
const (
	RuleMissingToken = "auth.missing_token" // no bearer token
	RuleMalformed    = "auth.malformed"     // not a compact JWS, bad encoding, bad header
	RuleAlg          = "auth.alg"           // alg missing, "none", unknown or not allowed
	RuleMissingKid   = "auth.missing_kid"   // no kid in the header of an asymmetric token
	RuleUnknownKid   = "auth.unknown_kid"   // kid not in the key set, even after a refresh
	RuleKeyMismatch  = "auth.key_mismatch"  // the key named by kid is not of the alg's type
	RuleSignature    = "auth.signature"     // the signature does not verify
	RuleExpired      = "auth.expired"       // exp is in the past
	RuleExpMissing   = "auth.exp_missing"   // exp is missing or not a number
	RuleNotYetValid  = "auth.not_yet_valid" // nbf is in the future
	RuleIssuer       = "auth.issuer"        // iss is missing or wrong
	RuleAudience     = "auth.audience"      // aud is missing or wrong
	RuleClaims       = "auth.claims"        // another registered claim has the wrong type
	RuleSubject      = "auth.subject"       // sub is missing
	RuleOrganisation = "auth.organisation"  // the organisation claim is missing
	RuleRoles        = "auth.roles"         // no known role
)

var messages = map[string]string{
	RuleMissingToken: "a bearer token is required",
	RuleMalformed:    "the token is malformed",
	RuleAlg:          "the token's signing algorithm is not allowed",
	RuleMissingKid:   "the token names no signing key",
	RuleUnknownKid:   "the token's signing key is unknown",
	RuleKeyMismatch:  "the token's signing key does not match its algorithm",
	RuleSignature:    "the token's signature is invalid",
	RuleExpired:      "the token has expired",
	RuleExpMissing:   "the token has no valid expiry",
	RuleNotYetValid:  "the token is not valid yet",
	RuleIssuer:       "the token's issuer is not trusted",
	RuleAudience:     "the token is not meant for this service",
	RuleClaims:       "the token's claims are invalid",
	RuleSubject:      "the token names no subject",
	RuleOrganisation: "the token names no organisation",
	RuleRoles:        "the token grants no known role",
}

// refuse returns the error of a token refused under rule. The message is
// fixed per rule and never contains any part of the token.
func refuse(rule string) *sluice.Error {
	msg, ok := messages[rule]
	if !ok {
		msg = "the token is invalid"
	}
	return &sluice.Error{Code: sluice.EUNAUTHORIZED, Rule: rule, Message: msg}
}

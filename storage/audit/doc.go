// Package audit keeps Sluice's audit trail in an append-only file: every
// sluice.AuditEvent is chained to the one before it by hash, the chain is
// signed at checkpoints with an Ed25519 key, and Verify checks a file with
// nothing but the public key. The trail records who used which data under
// which authorization and what was released, in a form nobody can quietly
// edit: an edit, a deletion, a reordering or a truncation is found and named
// by line and sequence number.
//
// # File format
//
// The file is NDJSON: one sluice.AuditEvent per line, each line ended by
// "\n", nothing else in the file. The log sets four fields of each event:
//
//   - Seq: 1 for the first event, then the previous Seq plus one.
//   - Time: the Options.Now clock, unless the caller set it.
//   - Prev: the Hash of the previous event; for the first event, 64 zeros.
//   - Hash: hex(SHA-256(Prev || canonical)), where Prev is the 64 ASCII hex
//     characters of the Prev field and canonical is the event's canonical
//     JSON with Hash set to "".
//
// Canonical JSON is what encoding/json.Marshal produces for the
// sluice.AuditEvent struct: fields in the struct's order, omitempty fields
// left out, map keys (Details) sorted, no insignificant whitespace, and
// <, > and & escaped as \u003c, \u003e and \u0026. A line is therefore the
// canonical JSON of its event with the Hash filled in, and an auditor can
// recompute a hash with standard tools:
//
//	prev=$(jq -r .prev <<<"$line")
//	printf '%s%s' "$prev" "$(sed 's/"hash":"[0-9a-f]*"}$/"hash":""}/' <<<"$line")" | sha256sum
//
// Verify also requires every line to be exactly the canonical encoding of
// what it decodes to. encoding/json matches keys case-insensitively and
// ignores unknown keys, so without this check an edit such as "seq" →
// "Seq" would change the file without changing the hash.
//
// Before hashing, Append round-trips the event through JSON once (numbers in
// Details are decoded as json.Number), so that the stored line is a fixed
// point of decode-then-encode: what Verify decodes re-encodes to the same
// bytes. In particular, Details values come back as the JSON types
// (string, json.Number, bool, nil, []any, map[string]any) and invalid UTF-8
// in strings is replaced by U+FFFD before it is hashed.
//
// # Checkpoints
//
// A checkpoint is an event of Kind "checkpoint" whose Details are
//
//	{"key_id": "<key id>", "signature": "<base64 Ed25519 signature>"}
//
// signing the message
//
//	fmt.Sprintf("sluice-audit-checkpoint\n%d\n%s", seq, hash)
//
// where seq and hash are the Seq and Hash of the event just before the
// checkpoint (the checkpoint's Seq-1 and Prev). Because every hash covers
// the one before it, a checkpoint vouches for the whole file up to it. The
// log writes one after Options.CheckpointEvery events, when
// Options.CheckpointInterval has passed since the last one (checked on
// Append), on Log.Checkpoint and on Log.Close; never two in a row.
//
// Anyone who can write the file can append events with a correct hash chain:
// hashing alone proves order and integrity, not authorship. What such events
// cannot carry is a valid signature, so Report.UnsignedTail counts the events
// after the last valid checkpoint. A log closed cleanly ends with a
// checkpoint, so its UnsignedTail is 0. The checkpoint event itself (its
// Time) is covered by the next checkpoint, not its own signature. Cutting
// whole lines off the end leaves a valid shorter log; an auditor who keeps
// the Seq and Hash of the last checkpoint they saw (or publishes them) can
// tell.
//
// # Durability and failure
//
// Append writes the line with one write and fsyncs before it returns, under
// a mutex, so concurrent Appends are serialised and an event whose Append
// returned nil is on disk. If the write or the fsync fails, Append returns an
// error — the caller must refuse the request it was auditing (fail closed) —
// truncates the file back to its last good size, and poisons the Log: every
// later Append, Checkpoint and Close fails with ErrPoisoned until the file is
// opened again. Poisoning is deliberate: after a failed fsync the kernel may
// already have dropped the dirty pages, so neither the in-memory chain nor
// the page cache can be trusted to match the disk; Open re-reads the file
// from disk and verifies it.
//
// A failure can leave behind an event whose Append returned an error (the
// write reached the disk but the fsync reported an error, and the truncation
// failed too): the trail may then hold an event for a request that was
// refused, never lack one for a request that was served.
//
// # Opening and crash recovery
//
// Open verifies the whole file — every line's form, Seq, Prev and Hash, and
// the signature of every checkpoint made under the log's own key id
// (checkpoints under other key ids, from before a key rotation, are checked
// for form only) — before it appends anything. A final line without a
// trailing newline can only be an Append that never returned (the line and
// its newline are one write), so Open cuts it off and appends a
// "log.recovered" event recording the line number, offset, length and
// SHA-256 of the bytes it cut, and their beginning. Any other damage makes
// Open refuse, with an error naming the line. Open takes an exclusive
// advisory lock (flock) on the file on Unix systems, so two Logs never append
// to one file.
package audit

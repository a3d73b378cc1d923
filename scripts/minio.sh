#!/usr/bin/env bash
# scripts/minio.sh — a real, pinned MinIO server for Sluice's tests and CI.
#
#   scripts/minio.sh install   build the pinned server once per machine into $CACHE
#   scripts/minio.sh path      print the binary path ($CACHE/minio)
#
# CACHE is ${SLUICE_TOOLS:-$HOME/.cache/sluice/bin}. The server is built from
# source through the Go module proxy (no prebuilt binary is downloaded). The
# build takes ~10 minutes on 2 cores; it is skipped when $CACHE/minio already
# exists and answers `minio --version`.
#
# Starting and stopping servers is done from Go tests: see
# storage/s3/miniotest (Start, Server.Stop, Server.Restart).
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
CACHE="${SLUICE_TOOLS:-$HOME/.cache/sluice/bin}"
BIN="$CACHE/minio"

usage() {
	echo "usage: $0 {install|path}" >&2
	exit 2
}

installed() {
	[[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1
}

cmd_install() {
	if installed; then
		echo "minio: already installed at $BIN ($("$BIN" --version 2>/dev/null | head -n1))"
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		echo "minio: ERROR: the go toolchain is not on PATH; cannot build MinIO" >&2
		exit 1
	fi
	mkdir -p "$CACHE"
	local start end
	start=$(date +%s)
	echo "minio: building $MINIO_MODULE@$MINIO_VERSION into $CACHE (takes ~10 minutes on 2 cores)..."
	# Build outside the Sluice module so its go.mod is never touched.
	if ! (cd "$CACHE" && GOFLAGS=-mod=mod GOBIN="$CACHE" go install "$MINIO_MODULE@$MINIO_VERSION"); then
		rm -f "$BIN"
		echo "minio: ERROR: building $MINIO_MODULE@$MINIO_VERSION FAILED; tests needing MinIO will skip (or fail with SLUICE_REQUIRE_MINIO=1)" >&2
		exit 1
	fi
	if ! installed; then
		echo "minio: ERROR: build finished but '$BIN --version' does not work" >&2
		exit 1
	fi
	end=$(date +%s)
	echo "minio: installed $BIN in $((end - start))s: $("$BIN" --version 2>/dev/null | head -n1)"
}

case "${1:-}" in
install) cmd_install ;;
path) echo "$BIN" ;;
*) usage ;;
esac

#!/bin/sh
# Installs the Matrix homeserver the tests run (dendrite v0.13.8, pure Go,
# SQLite) into a cache directory. Idempotent: a no-op when the binaries of
# this version are already there. bot/matrix/matrixtest finds them there.
#
#   scripts/install/matrix.sh            # installs into the default directory
#   JOUNCEBOT_TEST_BIN=DIR scripts/install/matrix.sh
set -eu

version=v0.13.8
if [ -n "${JOUNCEBOT_TEST_BIN:-}" ]; then
	bin=$JOUNCEBOT_TEST_BIN
elif mkdir -p /usr/local/lib/jouncebot-test/bin 2>/dev/null && [ -w /usr/local/lib/jouncebot-test/bin ]; then
	bin=/usr/local/lib/jouncebot-test/bin
else
	bin=$HOME/.cache/jouncebot/bin
fi
mkdir -p "$bin"

stamp=$bin/.dendrite-$version
if [ -f "$stamp" ] && [ -x "$bin/dendrite" ] && [ -x "$bin/create-account" ] && [ -x "$bin/generate-config" ]; then
	exit 0
fi

echo "installing dendrite $version into $bin (about 90 s the first time)" >&2
# Built outside our module: dendrite resolves its own dependencies.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
GOBIN=$bin CGO_ENABLED=0 go install \
	github.com/matrix-org/dendrite/cmd/dendrite@$version \
	github.com/matrix-org/dendrite/cmd/create-account@$version \
	github.com/matrix-org/dendrite/cmd/generate-config@$version
touch "$stamp"

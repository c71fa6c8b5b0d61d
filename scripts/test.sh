#!/usr/bin/env bash
# Runs the whole test suite. It first installs every server the integration
# tests start (IRC, Matrix, MediaWiki, rsync, Chromium), then runs the tests
# with JOUNCEBOT_TEST_SERVERS=required so that a missing server is a failure,
# never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

for s in scripts/install/*.sh; do
	[ -e "$s" ] || continue
	echo "== $s"
	bash "$s"
done

echo "== go vet"
go vet ./...
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" "$unformatted" >&2
	exit 1
fi

echo "== go test"
JOUNCEBOT_TEST_SERVERS=required go test -count=1 -timeout 20m "$@" ./...

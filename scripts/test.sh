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
JOUNCEBOT_TEST_SERVERS=required go test -count=1 -parallel 4 -timeout 25m "$@" ./...

# Every benchmark the README's table lists runs once, so none can rot
# unnoticed: each command as written there, with -benchtime 1x.
echo "== benchmarks (the README's table, once each)"
benches=$(grep -oE '^\| `go test [^`]+`' README.md | sed -e 's/^| `//' -e 's/`$//' -e 's/\\|/|/g' -e 's/ -benchtime [^ ]*//')
if [ -z "$benches" ]; then
	echo "no benchmark commands found in README.md's Development table" >&2
	exit 1
fi
while IFS= read -r cmd; do
	echo "-- $cmd -benchtime 1x"
	eval "JOUNCEBOT_TEST_SERVERS=required $cmd -benchtime 1x -count=1"
done <<<"$benches"

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
# -timeout catches a hung package, it is no speed goal: the app package
# took 25 minutes beside two load runs when its tests ran one after another
# (they run in parallel now: 7–8 minutes under the same load).
JOUNCEBOT_TEST_SERVERS=required go test -count=1 -parallel 4 -timeout 50m "$@" ./...

# Every benchmark the README's table lists runs once, so none can rot
# unnoticed: each command as written there, with -benchtime 1x and no
# tests (they ran above). A row that is not a go test command, or a command
# that runs no benchmark (a renamed or deleted one, or one that skips), fails.
echo "== benchmarks (the README's table, once each)"
rows=$(awk '/^\| command \| measures \|$/ { t = 1; next } t && !/^\|/ { exit } t && !/^\|---/' README.md)
if [ -z "$rows" ]; then
	echo "no benchmark table (| command | measures |) found in README.md" >&2
	exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
while IFS= read -r row; do
	if ! [[ $row =~ ^\|\ \`(go test [^\`]+)\`\ \| ]]; then
		echo "README.md's benchmark table has a row that is not a \`go test …\` command: $row" >&2
		exit 1
	fi
	cmd=$(sed -e 's/\\|/|/g' <<<"${BASH_REMATCH[1]}")
	echo "-- $cmd -benchtime 1x"
	eval "JOUNCEBOT_TEST_SERVERS=required $cmd -benchtime 1x -count=1 -run '^\$'" | tee "$out"
	# Each alternative of the -bench pattern must have run.
	pattern=$(sed -nE "s/.* -bench ('([^']*)'|([^ ]+)).*/\2\3/p" <<<"$cmd")
	IFS='|' read -ra names <<<"${pattern:-no -bench given}"
	for name in "${names[@]}"; do
		if ! grep -qE "^Benchmark[^[:space:]]*$name[^[:space:]]*[[:space:]]+[0-9]+[[:space:]]" "$out"; then
			echo "README.md lists \`$cmd\`, but no benchmark matching $name ran: fix the name in README.md or the benchmark" >&2
			exit 1
		fi
	done
done <<<"$rows"

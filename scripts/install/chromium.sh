#!/bin/sh
# Installs Debian's chromium for the web package's headless-browser tests.
# Idempotent: a fast no-op when chromium is already installed. Other install
# scripts may be running apt at the same time, so apt is retried while
# another process holds its locks.
set -eu
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive

apt_retry() {
	for _ in $(seq 1 120); do
		if apt-get -o DPkg::Lock::Timeout=60 "$@"; then
			return 0
		fi
		sleep 5
	done
	return 1
}

if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	apt_retry update -qq
fi
apt_retry install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null

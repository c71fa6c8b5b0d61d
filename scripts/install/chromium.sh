#!/bin/sh
# Installs Debian's chromium for the web package's headless-browser tests.
# Idempotent: a fast no-op when chromium is already installed.
set -eu
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
. "$(dirname "$0")/../lib/apt.sh"
apt_install chromium fonts-dejavu-core
command -v chromium >/dev/null

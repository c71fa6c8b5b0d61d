#!/bin/sh
# Installs rsync, used by deploy/hostsync and its tests. A fast no-op when
# it is already installed.
set -eu
if command -v rsync >/dev/null 2>&1; then
	exit 0
fi
. "$(dirname "$0")/../lib/apt.sh"
apt_install rsync

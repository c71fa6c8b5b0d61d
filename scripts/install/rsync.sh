#!/bin/sh
# Installs rsync, used by deploy/sync and its tests. A fast no-op when it is
# already installed.
set -eu
if command -v rsync >/dev/null 2>&1; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq || true
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends rsync

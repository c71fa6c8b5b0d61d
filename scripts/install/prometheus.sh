#!/bin/sh
# Installs Debian's Prometheus server for the canary analysis tests
# (deploy/canary/promtest runs the binary itself on a free loopback port;
# the packaged service is kept from starting). A fast no-op when it is
# already installed.
set -eu
if command -v prometheus >/dev/null 2>&1; then
	exit 0
fi
. "$(dirname "$0")/../lib/apt.sh"
apt_install prometheus
command -v prometheus >/dev/null

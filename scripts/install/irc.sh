#!/bin/sh
# Installs the IRC test servers (InspIRCd 3 and Atheme services) that
# bot/irc's integration tests start. Idempotent: a fast no-op when both are
# already installed.
set -eu
if command -v inspircd >/dev/null 2>&1 && command -v atheme-services >/dev/null 2>&1; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends inspircd atheme-services

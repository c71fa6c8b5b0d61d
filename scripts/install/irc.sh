#!/bin/sh
# Installs the IRC test servers, InspIRCd 3 and Atheme services, that
# bot/irc/irctest starts for the IRC transport's integration tests.
# Idempotent: it returns at once when both are already installed. The
# packages' own system services are kept from starting.
set -eu
if command -v inspircd >/dev/null 2>&1 && command -v atheme-services >/dev/null 2>&1; then
	exit 0
fi
. "$(dirname "$0")/../lib/apt.sh"
apt_install inspircd atheme-services

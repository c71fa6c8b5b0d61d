#!/bin/sh
# Installs the IRC test servers, InspIRCd 3 and Atheme services, that
# bot/irc/irctest starts for the IRC transport's integration tests.
# Idempotent: it returns at once when both are already installed. The
# packages' own system services are kept from starting; tests run their own
# servers on free loopback ports.
set -eu

pkgs="inspircd atheme-services"

if command -v inspircd >/dev/null 2>&1 && command -v atheme-services >/dev/null 2>&1; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "irc.sh: need root to install: $pkgs" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
if ! apt_get install -y --no-install-recommends $pkgs; then
	apt_get update
	apt_get install -y --no-install-recommends $pkgs
fi

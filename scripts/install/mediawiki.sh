#!/bin/sh
# Installs Debian's MediaWiki and the PHP CLI used by the wiki tests
# (wiki/wikitest serves it with PHP's built-in web server). Idempotent: it
# returns at once when everything is already installed. apache2 comes along
# as a dependency but is never started.
set -eu

pkgs="mediawiki php-sqlite3 php-cli php-intl php-mbstring php-xml"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ] && [ -f /usr/share/mediawiki/maintenance/install.php ] && command -v php >/dev/null; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "mediawiki.sh: need root to install:$missing" >&2
	exit 1
fi

# Keep apache2 (a dependency of mediawiki) from starting during install.
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

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
. "$(dirname "$0")/../lib/apt.sh"
apt_install $pkgs

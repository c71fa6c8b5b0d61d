# Shared by scripts/install/*.sh: apt_install installs Debian packages
# without starting their system services, waiting while another install
# script holds apt's lock, and updating the package lists only when the
# packages cannot be found without it. Source it; it defines functions only.

apt_install() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$(basename "$0"): need root to install: $*" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Keep services that come as dependencies (apache2, inspircd, …) from
	# starting: tests run their own servers on free loopback ports.
	_apt_policy=/usr/sbin/policy-rc.d
	_apt_made_policy=""
	if [ ! -e "$_apt_policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$_apt_policy"
		chmod 755 "$_apt_policy"
		_apt_made_policy=1
	fi
	_apt_rc=0
	if ! _apt_get install -y -qq --no-install-recommends "$@" >/dev/null; then
		_apt_get update -qq && _apt_get install -y -qq --no-install-recommends "$@" >/dev/null || _apt_rc=$?
	fi
	if [ -n "$_apt_made_policy" ]; then
		rm -f "$_apt_policy"
	fi
	return $_apt_rc
}

_apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }

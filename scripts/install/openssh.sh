#!/bin/sh
# Installs the OpenSSH server and client, used by deploy/hostsync's test of
# host:path (rsync over ssh) destinations. Tests start their own sshd on
# loopback; the system service is kept from starting. A fast no-op when
# installed.
set -eu
if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get -o DPkg::Lock::Timeout=600 update -qq || true
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends openssh-server openssh-client

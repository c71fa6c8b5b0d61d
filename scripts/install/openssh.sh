#!/bin/sh
# Installs the OpenSSH server and client, used by deploy/hostsync's test of
# host:path (rsync over ssh) destinations. Tests start their own sshd on
# loopback; the system service is kept from starting. A fast no-op when
# installed.
set -eu
if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; then
	exit 0
fi
. "$(dirname "$0")/../lib/apt.sh"
apt_install openssh-server openssh-client

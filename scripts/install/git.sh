#!/bin/sh
# Installs git (2.38 or newer, with git-http-backend) for the deploy engine
# and its fake Gerrit (deploy/gerrittest). A fast no-op when already there.
set -eu
if command -v git >/dev/null 2>&1 && [ -x "$(git --exec-path)/git-http-backend" ]; then
	exit 0
fi
. "$(dirname "$0")/../lib/apt.sh"
apt_install git ca-certificates
git --version

#!/usr/bin/env bash
# Installs the Debian packages the test lab needs (glewlwyd, gnome-keyring, OpenSSH, the libsecret and
# OpenSSL headers (libssh2 itself is vendored: Sources/CLibSSH2), …). Idempotent and non-interactive: asks dpkg which packages are missing and only then runs
# `apt-get update` once and `apt-get install`. When everything is present it takes well under a second.
# Must run as root (CI: `sudo make deps`).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  glewlwyd sqlite3 jq curl openssl
  gnome-keyring libsecret-tools libsecret-1-dev libglib2.0-bin
  libssl-dev pkg-config
  dbus dbus-bin dbus-user-session
  openssh-server openssh-client
  procps psmisc
  dpkg-dev lintian binutils systemd patchelf util-linux
)

# python3-venv is only needed when the python3 on PATH cannot make a venv (Debian's own python3);
# a pyenv or other self-built interpreter brings venv with it.
if ! command -v python3 >/dev/null 2>&1; then
  PACKAGES+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  PACKAGES+=(python3-venv)
fi

missing=()
installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)"
for p in "${PACKAGES[@]}"; do
  grep -qx "$p installed" <<<"$installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root (sudo make deps)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  # Keep package scripts from starting system daemons (glewlwyd would listen on 0.0.0.0:4593, sshd on :22).
  # An existing policy-rc.d is left untouched.
  remove_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    remove_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update </dev/null
  apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
  [[ -n $remove_policy ]] && rm -f /usr/sbin/policy-rc.d && trap - EXIT
fi

# sshd (started by the SSH lab) refuses to run without its privilege-separation directory.
if [[ ! -d /run/sshd ]]; then
  if [[ $(id -u) -eq 0 ]]; then install -d -m 0755 /run/sshd
  else echo "install-deps: /run/sshd is missing; run as root (sudo make deps)" >&2; exit 1; fi
fi

if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "install-deps: 'python3 -m venv' does not work with $(command -v python3)" >&2
  exit 1
fi
echo "install-deps: all lab dependencies present" >&2

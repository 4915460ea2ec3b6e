#!/usr/bin/env bash
# Writes an OpenSSH bastion + target lab into DIR (keys, sshd configs, known_hosts, ssh_config).
# It starts nothing: Tests/LabSupport/SSHLab.swift and scripts/bench.sh start
#   /usr/sbin/sshd -D -e -f DIR/sshd_bastion.conf   and   ... DIR/sshd_target.conf
# themselves so that they own the PIDs.
#
# usage: setup.sh DIR BASTION_PORT TARGET_PORT FORWARD_HOST:FORWARD_PORT [USER]
#        (env LAB_BASTION_EXTRA_PERMIT_OPEN="host:port": one more destination the bastion may open)
#        setup.sh --rekey DIR NAME     # new host key for NAME (bastion|target); known_hosts keeps the old one
#
# Paths: the bastion may only open 127.0.0.1:TARGET_PORT (the target sshd), the target only the
# forward target. On loopback every port is reachable from the client too, so "only through the
# bastion" is enforced by PermitOpen on each hop, not by the network (documented limitation).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ "${1:-}" == "--rekey" ]]; then
  dir="$2"; name="$3"
  rm -f "$dir/hostkey_$name" "$dir/hostkey_$name.pub"
  ssh-keygen -q -t ed25519 -N '' -C "lab-$name-rekeyed" -f "$dir/hostkey_$name"
  exit 0
fi

dir="$1"; bastion_port="$2"; target_port="$3"; forward="$4"; user="${5:-$(id -un)}"
mkdir -p "$dir"; chmod 700 "$dir"
# sshd needs its privilege-separation directory (normally made by systemd or the init script).
if [[ ! -d /run/sshd ]]; then install -d -m 0755 /run/sshd; fi

key() {  # key FILE TYPE [BITS] -- unencrypted unless PASSPHRASE is set
  local file="$1" type="$2"; shift 2
  [[ -f "$file" ]] || ssh-keygen -q -t "$type" "$@" -N "${PASSPHRASE:-}" -C "lab-$(basename "$file")" -f "$file"
}
key "$dir/hostkey_bastion" ed25519
key "$dir/hostkey_target" ed25519
key "$dir/id_ed25519" ed25519
key "$dir/id_ecdsa" ecdsa -b 256
key "$dir/id_rsa" rsa -b 3072
key "$dir/id_unauthorized" ed25519
PASSPHRASE="lab-passphrase" key "$dir/id_encrypted" ed25519
printf 'lab-passphrase\n' > "$dir/id_encrypted.passphrase"; chmod 600 "$dir/id_encrypted.passphrase"

# An SSH user CA both servers trust (TrustedUserCAKeys), and keys that are NOT in authorized_keys
# but carry certificates signed by it: ECDSA ones (the expired, future and wrong-principal cases
# among them) and id_cert_ed25519 (libssh2 1.10 could not sign with it; the vendored 1.11 can).
key "$dir/user_ca" ed25519
cert() {  # cert NAME TYPE VALIDITY PRINCIPALS [BITS...] -- key NAME plus NAME-cert.pub signed by user_ca
  local name="$1" type="$2" validity="$3" principals="$4"; shift 4
  key "$dir/$name" "$type" "$@"
  [[ -f "$dir/$name-cert.pub" ]] ||
    ssh-keygen -q -s "$dir/user_ca" -I "lab-$name" -z 7 -n "$principals" -V "$validity" "$dir/$name.pub"
}
cert id_cert ecdsa -5m:+1h "$user" -b 256
cert id_cert_expired ecdsa -2d:-1d "$user" -b 256
cert id_cert_wrongprincipal ecdsa -5m:+1h someone-else -b 256
cert id_cert_future ecdsa +1h:+2h "$user" -b 256
cert id_cert_ed25519 ed25519 -5m:+1h "$user"

authorized=""
for k in id_ed25519 id_ecdsa id_rsa id_encrypted; do authorized+="$(cat "$dir/$k.pub")"$'\n'; done
printf '%s' "$authorized" > "$dir/authorized_keys_bastion"
printf '%s' "$authorized" > "$dir/authorized_keys_target"

render() {  # render NAME PORT PERMIT_OPEN
  sed -e "s|@DIR@|$dir|g" -e "s|@NAME@|$1|g" -e "s|@PORT@|$2|g" -e "s|@PERMIT_OPEN@|$3|g" -e "s|@USER@|$user|g" \
    "$here/sshd_config.tmpl" > "$dir/sshd_$1.conf"
  /usr/sbin/sshd -t -f "$dir/sshd_$1.conf"
}
render bastion "$bastion_port" "127.0.0.1:$target_port${LAB_BASTION_EXTRA_PERMIT_OPEN:+ $LAB_BASTION_EXTRA_PERMIT_OPEN}"
render target "$target_port" "$forward"

{
  printf '[127.0.0.1]:%s %s\n' "$bastion_port" "$(cut -d' ' -f1,2 "$dir/hostkey_bastion.pub")"
  printf '[127.0.0.1]:%s %s\n' "$target_port" "$(cut -d' ' -f1,2 "$dir/hostkey_target.pub")"
} > "$dir/known_hosts"
cp "$dir/known_hosts" "$dir/known_hosts_hashed"
ssh-keygen -q -H -f "$dir/known_hosts_hashed" >/dev/null 2>&1
rm -f "$dir/known_hosts_hashed.old"
: > "$dir/known_hosts_empty"

cat > "$dir/ssh_config" <<CFG
# OpenSSH client config for the lab; use with ssh -F (ProxyJump propagates -F, not -i/-o).
Host bastion
  HostName 127.0.0.1
  Port $bastion_port
Host target
  HostName 127.0.0.1
  Port $target_port
  ProxyJump bastion
Host *
  User $user
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ExitOnForwardFailure yes
  ServerAliveInterval 15
CFG

#!/usr/bin/env bash
# The whole test lab from the shell, in the background (for `make demo` and manual poking).
#
#   lab.sh start DIR      start glewlwyd, the RFC 8693 fixture, the MCP server, gnome-keyring on a
#                         private bus and (if Tests/Lab/ssh exists) an OpenSSH bastion + target;
#                         writes DIR/lab.env (ports and URLs, no secrets), DIR/pids/*.pid, DIR/logs/*
#                         and DIR/mcp-tunnel.toml (a `lab` profile for the CLI)
#   lab.sh stop DIR       stop every process recorded under DIR/pids (reap.sh)
#   lab.sh approve DIR USER_CODE   approve a device login as the lab user (what a human does in a browser)
#
# The same scripts, templates and Python peers as the Swift tests (Tests/LabSupport) are used:
# glewlwyd/{prepare,provision}.sh, keyring/session-bus.conf, sts/sts.py, mcp/server.py, ssh/setup.sh.
# Every server binds 127.0.0.1 on a port chosen free at start. Needs `make deps` first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd="$1"
dir="$(mkdir -p "$2" && cd "$2" && pwd)"

free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_bg NAME CMD… — runs CMD in the background in its own session (so a Ctrl-C in the terminal
# that ran `make demo` does not reach it), output to DIR/logs/NAME.log, PID to DIR/pids/NAME.pid.
start_bg() {
  local name="$1"; shift
  setsid "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
  echo "$!" >"$dir/pids/$name.pid"
}

wait_port() {  # wait_port NAME PORT
  local i
  for i in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$dir/pids/$1.pid")" 2>/dev/null; then
      echo "lab: $1 exited; log:" >&2; tail -20 "$dir/logs/$1.log" >&2; return 1
    fi
    sleep 0.05
  done
  echo "lab: $1 not listening on $2 after 15 s" >&2; tail -20 "$dir/logs/$1.log" >&2; return 1
}

start() {
  local started=$SECONDS
  python="$("$here/setup-venv.sh")"
  if compgen -G "$dir/pids/*.pid" >/dev/null; then echo "lab: $dir already has a running lab (lab.sh stop $dir)" >&2; exit 1; fi
  mkdir -p "$dir/logs" "$dir/pids"
  trap 'echo "lab: start failed, stopping what was started" >&2; "$here/reap.sh" "$dir"' ERR

  local idp_port redirect_port sts_port mcp_port
  idp_port=$(free_port); redirect_port=$(free_port); sts_port=$(free_port); mcp_port=$(free_port)
  local issuer="http://127.0.0.1:$idp_port/api/oidc" audience="https://mcp.example.test/mcp"
  local redirect_uri="http://127.0.0.1:$redirect_port/callback"

  # Launch everything first, then wait: provisioning and Python start-up overlap.
  "$here/glewlwyd/prepare.sh" "$dir/glewlwyd" "$idp_port"
  start_bg glewlwyd glewlwyd -c "$dir/glewlwyd/glewlwyd.conf"
  mkdir -p "$dir/sts" "$dir/mcp"
  start_bg sts env PYTHONUNBUFFERED=1 "$python" "$here/sts/sts.py" --port "$sts_port" --idp-issuer "$issuer" \
    --idp-jwks "$issuer/jwks" --audience "$audience" --tenants "${LAB_TENANTS:-acme,globex}" \
    --ttl "${LAB_SESSION_TTL:-300}" --log "$dir/sts/requests.jsonl"
  start_bg mcp-server env PYTHONUNBUFFERED=1 "$python" "$here/mcp/server.py" --port "$mcp_port" \
    --jwks-url "http://127.0.0.1:$sts_port/jwks" --issuer "http://127.0.0.1:$sts_port" --audience "$audience" \
    --log "$dir/mcp/requests.jsonl"

  # Secret Service: a private bus with no activatable services + gnome-keyring unlocked with a
  # random password on stdin (never stored). Isolated HOME/XDG dirs, no DISPLAY.
  local k="$dir/keyring"
  mkdir -p "$k/home/.local/share" "$k/home/.config" "$k/home/.local/state" "$k/home/.cache" "$k/run"
  chmod 700 "$k" "$k/run"
  local bus="unix:path=$k/bus"
  local -a kenv=(env -i PATH="$PATH" LANG=C.UTF-8 HOME="$k/home" XDG_DATA_HOME="$k/home/.local/share"
    XDG_CONFIG_HOME="$k/home/.config" XDG_STATE_HOME="$k/home/.local/state" XDG_CACHE_HOME="$k/home/.cache"
    XDG_RUNTIME_DIR="$k/run" DBUS_SESSION_BUS_ADDRESS="$bus")
  start_bg dbus-daemon "${kenv[@]}" dbus-daemon --config-file="$here/keyring/session-bus.conf" --nofork --address="$bus"
  for _ in $(seq 200); do [[ -S $k/bus ]] && break; sleep 0.02; done
  setsid "${kenv[@]}" gnome-keyring-daemon --foreground --unlock --components=secrets \
    < <(head -c 24 /dev/urandom | base64) >>"$dir/logs/gnome-keyring.log" 2>&1 &
  echo "$!" >"$dir/pids/gnome-keyring.pid"
  for _ in $(seq 200); do
    "${kenv[@]}" dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
    sleep 0.02
  done

  wait_port glewlwyd "$idp_port"
  "$here/glewlwyd/provision.sh" "$dir/glewlwyd" "$idp_port" "$redirect_uri"
  wait_port sts "$sts_port"
  wait_port mcp-server "$mcp_port"

  local bastion_port="" target_port="" ssh_user
  if [[ -x $here/ssh/setup.sh && ${LAB_SSH:-1} == 1 ]]; then
    bastion_port=$(free_port); target_port=$(free_port); ssh_user="$(id -un)"
    "$here/ssh/setup.sh" "$dir/ssh" "$bastion_port" "$target_port" "127.0.0.1:$mcp_port" "$ssh_user" >/dev/null
    start_bg sshd-target /usr/sbin/sshd -D -e -f "$dir/ssh/sshd_target.conf"
    start_bg sshd-bastion /usr/sbin/sshd -D -e -f "$dir/ssh/sshd_bastion.conf"
    wait_port sshd-target "$target_port"
    wait_port sshd-bastion "$bastion_port"
  fi
  trap - ERR

  cat >"$dir/lab.env" <<EOF
# Written by Tests/Lab/lab.sh start; source it. No secrets: the lab user's password is in
# Tests/Lab/glewlwyd/user.json, tokens exist only in memory.
LAB_DIR=$dir
LAB_IDP_PORT=$idp_port
LAB_IDP_ISSUER=$issuer
LAB_IDP_DISCOVERY=$issuer/.well-known/openid-configuration
LAB_IDP_TOKEN_ENDPOINT=$issuer/token
LAB_IDP_DEVICE_ENDPOINT=$issuer/device_authorization
LAB_IDP_JWKS=$issuer/jwks
LAB_CLIENT_ID=mcp-tunnel
LAB_REDIRECT_URI=$redirect_uri
LAB_USER=dev1
LAB_STS_PORT=$sts_port
LAB_STS_TOKEN_ENDPOINT=http://127.0.0.1:$sts_port/token
LAB_STS_ISSUER=http://127.0.0.1:$sts_port
LAB_STS_ADMIN_MODE=http://127.0.0.1:$sts_port/admin/mode
LAB_RESOURCE_TEMPLATE=https://mcp.example.test/t/{tenant}/mcp
LAB_MCP_PORT=$mcp_port
LAB_MCP_URL=http://127.0.0.1:$mcp_port/mcp
LAB_MCP_AUDIENCE=$audience
LAB_SSH_BASTION_PORT=$bastion_port
LAB_SSH_TARGET_PORT=$target_port
LAB_SSH_CONFIG=${bastion_port:+$dir/ssh/ssh_config}
LAB_SSH_KNOWN_HOSTS=${bastion_port:+$dir/ssh/known_hosts}
LAB_SSH_IDENTITY=${bastion_port:+$dir/ssh/id_ed25519}
DBUS_SESSION_BUS_ADDRESS=$bus
LAB_KEYRING_HOME=$k/home
EOF

  # A profile for the CLI (SPEC.md §3), pointing at this lab.
  {
    echo "default_profile = \"lab\""
    echo
    echo "[profiles.lab.idp]"
    echo "issuer       = \"$issuer\""
    echo "client_id    = \"mcp-tunnel\""
    echo "scopes       = [\"openid\", \"mcp\"]"
    echo "redirect_uri = \"$redirect_uri\""
    echo
    echo "[profiles.lab.session]"
    echo "method         = \"token-exchange\""
    echo "endpoint       = \"http://127.0.0.1:$sts_port/token\""
    echo "resource       = \"https://mcp.example.test/t/{tenant}/mcp\""
    echo "tenants        = [\"acme\", \"globex\"]"
    echo "default_tenant = \"acme\""
    if [[ -n $bastion_port ]]; then
      echo
      echo "[profiles.lab.ssh]"
      echo "jump        = [\"$ssh_user@127.0.0.1:$bastion_port\"]"
      echo "host        = \"$ssh_user@127.0.0.1:$target_port\""
      echo "target      = \"127.0.0.1:$mcp_port\""
      echo "known_hosts = \"$dir/ssh/known_hosts\""
      echo "identity    = \"$dir/ssh/id_ed25519\""
    fi
  } >"$dir/mcp-tunnel.toml"

  echo "lab: started in $((SECONDS - started)) s; source $dir/lab.env; stop with: $0 stop $dir" >&2
}

approve() {
  local user_code="${3:?usage: lab.sh approve DIR USER_CODE}"
  # shellcheck disable=SC1091
  source "$dir/lab.env"
  local base="http://127.0.0.1:$LAB_IDP_PORT/api" jar
  jar="$(mktemp)"; trap 'rm -f "$jar"' RETURN
  # The password comes from user.json over stdin, never argv.
  jq '{username, password}' "$here/glewlwyd/user.json" |
    curl -fsS -o /dev/null -c "$jar" -b "$jar" -H 'Content-Type: application/json' --data-binary @- "$base/auth/"
  jq -n '{scope: "openid mcp"}' |
    curl -fsS -o /dev/null -c "$jar" -b "$jar" -X PUT -H 'Content-Type: application/json' --data-binary @- "$base/auth/grant/mcp-tunnel"
  local location
  location="$(curl -sS -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" "$base/oidc/device?code=$user_code&g_continue")"
  if [[ $location == *prompt=deviceComplete* ]]; then echo "lab: device code $user_code approved" >&2
  else echo "lab: approval of $user_code failed (redirect: $location)" >&2; return 1; fi
}

case "$cmd" in
  start) start ;;
  stop) "$here/reap.sh" "$dir" ;;
  approve) approve "$@" ;;
  *) usage ;;
esac

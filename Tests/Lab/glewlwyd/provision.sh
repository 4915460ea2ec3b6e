#!/usr/bin/env bash
# provision.sh RUN_DIR PORT REDIRECT_URI — configures a running glewlwyd (started from prepare.sh's
# config) through its admin REST API: the TOTP scheme instance `otp` (otp-scheme.json), the scopes
# `mcp` and `mcp-admin` (the step-up scope of `mcp-tunnel elevate`: password AND a TOTP code), the OIDC plugin instance (RS256 JWT access
# tokens signed with RUN_DIR/signing-key.pem, device + code/PKCE + refresh with one-use rotation,
# RFC 8707 resources, revocation/introspection), the public client `mcp-tunnel` with the fixed
# loopback REDIRECT_URI, the user from user.json, and that user's TOTP registration (otp.json).
# Optional environment (not secrets): LAB_ACCESS_TOKEN_TTL (seconds, default 300).
# Request bodies go over stdin (curl --data-binary @-), so no credential or key appears in argv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run_dir="${1:?usage: provision.sh RUN_DIR PORT REDIRECT_URI}"
port="${2:?usage: provision.sh RUN_DIR PORT REDIRECT_URI}"
redirect_uri="${3:?usage: provision.sh RUN_DIR PORT REDIRECT_URI}"
base="http://127.0.0.1:$port/api"
jar="$run_dir/admin.cookies"
rm -f "$jar"

# api METHOD PATH  (JSON body on stdin) — fails with the response body when the status is not 2xx.
api() {
  local out status
  out="$(curl -sS -o - -w '\n%{http_code}' -b "$jar" -c "$jar" -X "$1" -H 'Content-Type: application/json' \
    --data-binary @- "$base$2")"
  status="${out##*$'\n'}"
  if [[ $status != 2?? ]]; then
    echo "provision: $1 $2 -> HTTP $status: ${out%$'\n'*}" >&2
    return 1
  fi
}

jq -n '{username: "admin", password: "password"}' | api POST /auth/
api POST /mod/scheme/ <"$here/otp-scheme.json"
api POST /scope/ <"$here/scope.json"
api POST /scope/ <"$here/scope-admin.json"
jq --arg iss "http://127.0.0.1:$port/api/oidc" \
   --rawfile key "$run_dir/signing-key.pem" --rawfile cert "$run_dir/signing-pub.pem" \
   --argjson ttl "${LAB_ACCESS_TOKEN_TTL:-300}" \
   '.parameters.iss = $iss | .parameters.key = $key | .parameters.cert = $cert
    | .parameters."access-token-duration" = $ttl' \
   "$here/oidc-plugin.json" | api POST /mod/plugin/
jq --arg uri "$redirect_uri" '.redirect_uri = [$uri]' "$here/client.json" | api POST /client/
api POST /user/ <"$here/user.json"
# The user registers the lab's TOTP secret (otp.json) for the scheme `otp`, in a session of their own.
rm -f "$jar"
jq '{username, password}' "$here/user.json" | api POST /auth/
jq --slurpfile user "$here/user.json" \
   '{username: $user[0].username, scheme_type: "otp", scheme_name: "otp", value: .}' "$here/otp.json" \
  | api POST /profile/scheme/register/
rm -f "$jar"

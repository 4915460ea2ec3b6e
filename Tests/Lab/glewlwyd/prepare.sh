#!/usr/bin/env bash
# prepare.sh RUN_DIR PORT — writes a glewlwyd config, a fresh SQLite DB and an RSA signing key
# (per run, 2048 bit, for RS256 access tokens) into RUN_DIR. Start glewlwyd afterwards with
#   glewlwyd -c RUN_DIR/glewlwyd.conf
# then run provision.sh. Used by lab.sh and by IdentityProviderLab (Swift): one source of truth.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run_dir="${1:?usage: prepare.sh RUN_DIR PORT}"
port="${2:?usage: prepare.sh RUN_DIR PORT}"
mkdir -p "$run_dir"
chmod 0700 "$run_dir"
sed -e "s|@PORT@|$port|g" -e "s|@RUN_DIR@|$run_dir|g" "$here/glewlwyd.conf.tmpl" >"$run_dir/glewlwyd.conf"
rm -f "$run_dir/glewlwyd.db"
zcat /usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz | sqlite3 "$run_dir/glewlwyd.db"
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$run_dir/signing-key.pem" 2>/dev/null)
openssl pkey -in "$run_dir/signing-key.pem" -pubout -out "$run_dir/signing-pub.pem" 2>/dev/null

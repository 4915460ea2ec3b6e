#!/usr/bin/env bash
# Builds the release binary and the .deb once and checks what a user gets (SPEC §11):
#  1. the binary needs only glibc, libcrypto (OpenSSL 3) and libsecret (and what libsecret is built on);
#  2. the .deb holds the expected files, its Depends came from dpkg-shlibdeps, lintian has no
#     error and no tag beyond the ones README "Install" explains;
#  3. extracted from the .deb, it runs --version, --help and doctor with the Swift toolchain
#     hidden (a private mount namespace with an empty directory over it);
#  4. `make install DESTDIR=` puts every file in place and `make uninstall` removes them all;
#  5. the systemd units pass `systemd-analyze verify`.
# Run as root (unshare -m); the release build is the expensive part (see README).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}
step() { echo "== $*" >&2; }

step "release build"
scripts/release-build.sh
version=$(cat dist/VERSION)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "runtime libraries"
needed=$(objdump -p dist/mcp-tunnel | awk '/NEEDED/ {print $2}' | sort)
echo "$needed" | sed 's/^/  NEEDED /' >&2
# glibc's own libraries and OpenSSL's libcrypto (libssh2 is compiled in); libstdc++/libgcc_s come from the Swift runtime's C++ parts,
# libz from Foundation (all three are Priority: required in Debian). libsecret and its GLib are
# loaded with dlopen at the first keyring use, so they are not NEEDED at all.
allowed='^(libc|libm|libdl|libpthread|librt|libutil|ld-linux-x86-64|ld-linux-aarch64)\.so|^libcrypto\.so\.3$|^libstdc\+\+\.so\.6$|^libgcc_s\.so\.1$|^libz\.so\.1$'
unexpected=$(grep -Ev "$allowed" <<<"$needed" || true)
[[ -z $unexpected ]] || fail "the release binary needs more than glibc and libcrypto at start: $unexpected"
if ldd dist/mcp-tunnel | grep -E 'swift|Foundation|/opt/'; then fail "the release binary links the Swift toolchain"; fi
if ldd -r dist/mcp-tunnel 2>&1 | grep -E 'undefined symbol|not found'; then fail "the release binary does not resolve"; fi
# Packed relative relocations where the build's glibc reads them (release-build.sh): then the binary
# must say it needs them, so an older glibc refuses it instead of starting with unrelocated pointers.
glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
if printf '2.36\n%s\n' "$glibc" | sort -V -C; then
  readelf -d dist/mcp-tunnel | grep -q '(RELR)' || fail "glibc $glibc reads DT_RELR, but the release binary has none"
  readelf -V dist/mcp-tunnel | grep -q 'GLIBC_ABI_DT_RELR' || fail "the release binary has DT_RELR but no GLIBC_ABI_DT_RELR need"
fi
# --version loads no keyring library; the keyring's first use does (doctor, below).
if LD_DEBUG=libs dist/mcp-tunnel --version 2>&1 >/dev/null | grep -E 'calling init: .*lib(secret|glib|gio)'; then
  fail "--version loaded libsecret/GLib"
fi

step "package"
deb=$(scripts/package-deb.sh)
[[ $deb == "dist/mcp-tunnel_"*"_$(dpkg --print-architecture).deb" ]] || fail "unexpected package name $deb"
dpkg-deb --info "$deb" >&2
depends=$(dpkg-deb --field "$deb" Depends)
for lib in libc6 libssl3 libsecret-1-0; do
  grep -q "\b$lib\b" <<<"$depends" || fail "Depends ($depends) lacks $lib"
done
if readelf -V dist/mcp-tunnel | grep -q 'GLIBC_ABI_DT_RELR'; then
  grep -qF 'libc6 (>= 2.36)' <<<"$depends" || fail "the binary packs its relocations (glibc >= 2.36), Depends says $depends"
fi
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for f in ./usr/bin/mcp-tunnel ./usr/share/man/man1/mcp-tunnel.1.gz ./usr/share/bash-completion/completions/mcp-tunnel \
  ./usr/share/zsh/vendor-completions/_mcp-tunnel ./usr/share/fish/vendor_completions.d/mcp-tunnel.fish \
  ./usr/lib/systemd/user/mcp-tunnel@.service ./usr/lib/systemd/user/mcp-tunnel@.socket \
  ./usr/share/doc/mcp-tunnel/copyright ./usr/share/doc/mcp-tunnel/changelog.gz; do
  grep -qxF "$f" <<<"$contents" || fail "$deb lacks $f"
done
if command -v lintian >/dev/null; then
  # Each tag left here is explained in README "Install"; anything else fails.
  explained='^(I|N|P|X): |no-manual-page|hardening-no-fortify-functions|initial-upload-closes-no-bugs|extended-description-contains-empty-paragraph|unknown-copyright-format-uri|copyright-without-copyright-notice'
  tags=$(lintian --no-tag-display-limit "$deb" 2>&1 || true)
  echo "$tags" | sed 's/^/  lintian: /' >&2
  bad=$(grep -E '^(E|W): ' <<<"$tags" | grep -Ev "$explained" || true)
  [[ -z $bad ]] || fail "lintian: $bad"
else
  fail "lintian is not installed (make deps)"
fi

step "the packaged binary without a Swift toolchain"
dpkg-deb -x "$deb" "$work/root"
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
mkdir -p "$work/empty" "$work/home"
# A private mount namespace: an empty directory over the whole toolchain, nothing else changes.
unshare -m bash -euo pipefail -c '
  mount --bind "$1" "$2"
  if ls "$2"/lib 2>/dev/null | grep -q .; then echo "toolchain still visible" >&2; exit 1; fi
  bin=$3/usr/bin/mcp-tunnel
  export HOME=$4 XDG_CONFIG_HOME=$4/.config XDG_STATE_HOME=$4/.state XDG_RUNTIME_DIR=$4/run
  unset DBUS_SESSION_BUS_ADDRESS DISPLAY WAYLAND_DISPLAY
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  v=$("$bin" --version)
  [[ $v == "$5" ]] || { echo "--version printed \"$v\", want \"$5\"" >&2; exit 1; }
  "$bin" --help | grep -q "USAGE: mcp-tunnel" || { echo "--help printed no usage" >&2; exit 1; }
  set +e
  "$bin" doctor >"$4/doctor.out" 2>&1
  status=$?
  set -e
  cat "$4/doctor.out" >&2
  # doctor without a config says what is missing (exit 2); a loader error would be 127, a crash >128.
  [[ $status -le 9 ]] || { echo "doctor exited $status" >&2; exit 1; }
  grep -qi "config" "$4/doctor.out" || { echo "doctor said nothing about the config" >&2; exit 1; }
  # The keyring'"'"'s first use loads libsecret (dlopen): `status` of a profile reads the keyring and,
  # with no session bus here, exits 4 naming the bus — libsecret/GDBus said so, not a loader error.
  printf "default_profile = \"p\"\n[profiles.p.idp]\nissuer = \"https://idp.example.test\"\nclient_id = \"c\"\n[profiles.p.ssh]\ntarget = \"127.0.0.1:9\"\n" >"$4/config.toml"
  set +e
  LD_DEBUG=libs "$bin" status --config "$4/config.toml" >/dev/null 2>"$4/status.err"
  status=$?
  set -e
  grep -v "^ *[0-9]*:" "$4/status.err" >&2 || true
  [[ $status -eq 4 ]] || { echo "status without a session bus exited $status, want 4" >&2; exit 1; }
  grep -q "calling init: .*libsecret-1\.so\.0" "$4/status.err" || { echo "status did not load libsecret" >&2; exit 1; }
  grep -qi "session bus" "$4/status.err" || { echo "status did not name the missing session bus" >&2; exit 1; }
' hide "$work/empty" "$toolchain" "$work/root" "$work/home" "$version"

step "make install DESTDIR= / make uninstall"
dest=$work/dest
make --no-print-directory -s install-files DESTDIR="$dest" PREFIX=/usr/local >/dev/null
for f in bin/mcp-tunnel share/man/man1/mcp-tunnel.1 share/bash-completion/completions/mcp-tunnel \
  share/zsh/site-functions/_mcp-tunnel share/fish/vendor_completions.d/mcp-tunnel.fish \
  lib/systemd/user/mcp-tunnel@.service lib/systemd/user/mcp-tunnel@.socket; do
  [[ -f $dest/usr/local/$f ]] || fail "make install did not write /usr/local/$f"
done
grep -qx 'ExecStart=/usr/local/bin/mcp-tunnel up --profile %i' "$dest/usr/local/lib/systemd/user/mcp-tunnel@.service" ||
  fail "the installed unit does not run /usr/local/bin/mcp-tunnel"
make --no-print-directory -s uninstall DESTDIR="$dest" PREFIX=/usr/local >/dev/null
left=$(find "$dest" -type f)
[[ -z $left ]] || fail "make uninstall left: $left"

step "systemd-analyze verify"
units=$work/root/usr/lib/systemd/user
mkdir -p "$work/run" && chmod 700 "$work/run"
# verify checks that ExecStart exists and that man:mcp-tunnel(1) resolves: point both at the package.
sed -i "s|/usr/bin/mcp-tunnel|$work/root/usr/bin/mcp-tunnel|" "$units/mcp-tunnel@.service"
cp "$units/mcp-tunnel@.service" "$units/mcp-tunnel@prod.service"
cp "$units/mcp-tunnel@.socket" "$units/mcp-tunnel@prod.socket"
(cd "$units" && XDG_RUNTIME_DIR=$work/run MANPATH=$work/root/usr/share/man \
  systemd-analyze verify --user ./mcp-tunnel@prod.socket ./mcp-tunnel@prod.service) ||
  fail "systemd-analyze verify"

echo "test-package: ok ($deb, version $version)" >&2

#!/usr/bin/env bash
# Writes dist/mcp-tunnel_<version>_<arch>.deb from dist/mcp-tunnel (scripts/release-build.sh) with
# Debian's own tools: dpkg-shlibdeps computes Depends, dpkg-deb builds the archive (root-owned,
# no fakeroot needed), lintian checks it. Prints the path of the .deb on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[[ -x dist/mcp-tunnel && -s dist/VERSION ]] || {
  echo "package-deb: dist/mcp-tunnel is missing; run make release first" >&2
  exit 2
}

describe=$(cat dist/VERSION)
# git describe -> a Debian native version: v1.2.0 -> 1.2.0, v1.2.0-3-gabc -> 1.2.0+3.gabc,
# a bare hash (no tag yet) abc1234[-dirty] -> 0.0.0+gabc1234[.dirty].
version=${describe#v}
if [[ $version =~ ^[0-9]+\.[0-9] ]]; then
  version=$(sed 's/-/+/; s/-/./g' <<<"$version")
else
  version="0.0.0+g$(sed 's/-/./g' <<<"$version")"
fi
arch=$(dpkg --print-architecture)
deb=dist/mcp-tunnel_${version}_${arch}.deb

# Debian's convention for who builds a package; the default is a placeholder address.
maintainer="${DEBFULLNAME:-mcp-tunnel developers} <${DEBEMAIL:-mcp-tunnel@example.org}>"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/pkg
# The files: the same layout as `make install PREFIX=/usr`, with Debian's zsh directory.
make --no-print-directory -s install-files DESTDIR="$pkg" PREFIX=/usr ZSHCOMPDIR=/usr/share/zsh/vendor-completions \
  >/dev/null
gzip -9n "$pkg/usr/share/man/man1/mcp-tunnel.1"
# bash-completion sources the file: no interpreter line.
sed -i '1{/^#!/d}' "$pkg/usr/share/bash-completion/completions/mcp-tunnel"
# Tags that are true and meant (README "Install" explains each).
install -D -m 0644 packaging/debian/lintian-overrides "$pkg/usr/share/lintian/overrides/mcp-tunnel"
doc=$pkg/usr/share/doc/mcp-tunnel
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
# A native package's changelog, from the commits since the last tag (or the last 20).
{
  echo "mcp-tunnel ($version) unstable; urgency=medium"
  echo
  range=$(git describe --tags --abbrev=0 2>/dev/null | sed 's/$/..HEAD/' || true)
  # Subjects longer than a changelog line end at the last whole word (a word cut in two reads as a
  # misspelling to lintian).
  git log --no-merges --format='%s' -n 20 ${range:-HEAD} |
    awk '{ if (length($0) > 76) { $0 = substr($0, 1, 73); sub(/ +[^ ]*$/, ""); $0 = $0 " ..." } print "  * " $0 }'
  echo
  echo " -- $maintainer  $(git log -1 --format=%aD)"
} >"$work/changelog"
gzip -9n -c "$work/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# dpkg-shlibdeps wants a debian/control around it.
mkdir -p "$work/src/debian"
printf 'Source: mcp-tunnel\n\nPackage: mcp-tunnel\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$pkg/usr/bin/mcp-tunnel" | sed -n 's/^shlibs:Depends=//p')
# libsecret is loaded with dlopen at the first keyring use (no NEEDED entry for dpkg-shlibdeps to
# see): its dependency comes from libsecret-1-0's symbols file, at the newest version among the
# functions Sources/CLibSecret/shim.h loads.
symbols=$(ls /var/lib/dpkg/info/libsecret-1-0:*.symbols 2>/dev/null | head -1)
[[ -n $symbols ]] || { echo "package-deb: libsecret-1-0's symbols file is missing (make deps)" >&2; exit 1; }
minimum=""
for name in $(grep -o '"secret_[a-z_]*"' Sources/CLibSecret/shim.h | tr -d '"'); do
  since=$(awk -v symbol="$name@Base" '$1 == symbol {print $2}' "$symbols")
  [[ -n $since ]] || { echo "package-deb: $name is not in $symbols" >&2; exit 1; }
  minimum=$(printf '%s\n%s\n' "$minimum" "$since" | sort -V | tail -1)
done
depends="$depends, libsecret-1-0 (>= $minimum)"
# Packed relative relocations (scripts/release-build.sh) need glibc 2.36; the binary says so with a
# version need on GLIBC_ABI_DT_RELR, which is no symbol, so dpkg-shlibdeps does not count it.
if readelf -V "$pkg/usr/bin/mcp-tunnel" | grep -q 'GLIBC_ABI_DT_RELR'; then
  libc=$(printf '%s\n' "$depends" | tr ',' '\n' | sed -n 's/^ *libc6 (>= \([^)]*\))$/\1/p')
  [[ -n $libc ]] || { echo "package-deb: dpkg-shlibdeps gave no libc6 version: $depends" >&2; exit 1; }
  [[ $(printf '%s\n2.36\n' "$libc" | sort -V | tail -1) == "$libc" ]] ||
    depends=$(printf '%s' "$depends" | sed "s/libc6 (>= $libc)/libc6 (>= 2.36)/")
fi

mkdir -p "$pkg/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: mcp-tunnel
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Recommends: gnome-keyring | keepassxc
Suggests: openssh-client
Section: net
Priority: optional
Homepage: https://github.com/mcp-tunnel/mcp-tunnel
Description: secure access to an MCP server on loopback inside a cluster
 mcp-tunnel signs you in at your identity provider, opens an SSH path through
 your bastions (libssh2) and serves a local MCP endpoint on 127.0.0.1 that
 injects a short-lived, tenant-scoped token into every request. The keyring
 holds the login; every call goes to a hash-chained audit log.
 .
 The package ships systemd user units: mcp-tunnel@PROFILE.service runs the
 tunnel of one profile, mcp-tunnel@PROFILE.socket starts it on the first
 connection.
CONTROL
(cd "$pkg" && find usr -type f -exec md5sum {} + | sort -k2) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

mkdir -p dist
rm -f dist/mcp-tunnel_*.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >&2
echo "$deb"

#!/usr/bin/env bash
# Re-creates Sources/CLibSSH2 (libssh2's sources and public headers) from the Debian source package
# named below: the upstream tarball, Debian's patches in the order of debian/patches/series, then
# ours (vendor/libssh2/patches/*.patch, in name order). Both tarballs are checked against the
# SHA-256 sums below before anything is unpacked. Run it to update libssh2 or to audit the tree
# (`git diff` after a run must be empty). Needs the network (deb.debian.org); builds need nothing of
# it. See vendor/libssh2/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

version=1.11.1
debian_revision=1+deb13u2
pool=${LIBSSH2_POOL:-http://deb.debian.org/debian/pool/main/libs/libssh2}
orig=libssh2_${version}.orig.tar.gz
orig_sha256=d9ec76cbe34db98eec3539fe2c899d26b0c837cb3eb466a56b0f109cabf658f7
debian=libssh2_${version}-${debian_revision}.debian.tar.xz
debian_sha256=ee81e3ea0d65fdbc979c50f1433966d0139e33ac09242d7dc7c83567139126a7

work=$(mktemp -d "${TMPDIR:-/tmp}/vendor-libssh2.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
for file in "$orig" "$debian"; do curl -fsSLO "$pool/$file"; done
sha256sum --quiet -c - <<SUMS
$orig_sha256  $orig
$debian_sha256  $debian
SUMS
tar xzf "$orig"
tar xJf "$debian"
cd "libssh2-$version"
# Debian's series: one patch per line, `#` lines are patches Debian does not apply.
grep -v '^#' ../debian/patches/series | while read -r patch; do
  [[ -n $patch ]] || continue
  patch -p1 -s --no-backup-if-mismatch <"../debian/patches/$patch"
done
shopt -s nullglob
ours=("$root"/vendor/libssh2/patches/*.patch)
for patch in "${ours[@]}"; do
  patch -p1 -s --no-backup-if-mismatch <"$patch"
done

target=$root/Sources/CLibSSH2
# The other crypto back ends and the build files are left out; libssh2_config.h is ours.
find "$target/libssh2" -type f ! -name libssh2_config.h -delete
for file in src/*.c src/*.h; do
  case ${file#src/} in
    libgcrypt.* | mbedtls.* | os400qc3.* | wincng.*) ;;
    *) cp "$file" "$target/libssh2/" ;;
  esac
done
cp COPYING "$target/libssh2/COPYING"
cp include/libssh2.h include/libssh2_publickey.h include/libssh2_sftp.h "$target/include/"
echo "Sources/CLibSSH2: libssh2 $version-$debian_revision with ${#ours[@]} patch(es) of ours"

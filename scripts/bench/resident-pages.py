#!/usr/bin/env python3
"""resident-pages.py PID UNSTRIPPED-BINARY [--top N]   (env COMPONENTS=ICU,CoreFoundation,… lists their symbols)

How the README's memory numbers were taken (not part of `make bench`): run dist/mcp-tunnel, pass the
unstripped build of the same link (.build-release/release/mcp-tunnel).

Which pages of a running (stripped) mcp-tunnel are resident, attributed to the unstripped build's
symbols (same layout: strip changes no address) and grouped by component (Swift module from the
mangled name, ICU, CoreFoundation, libssh2...). Also the process's other mappings from smaps.
Needs root for /proc/PID/pagemap's present bits (they are readable by the owner without PFNs)."""
import bisect, collections, os, re, struct, subprocess, sys

pid, unstripped = sys.argv[1], sys.argv[2]
top = int(sys.argv[sys.argv.index('--top') + 1]) if '--top' in sys.argv else 25
PAGE = os.sysconf('SC_PAGE_SIZE')
exe = os.readlink(f'/proc/{pid}/exe')

maps = []
for line in open(f'/proc/{pid}/maps'):
    parts = line.split()
    lo, hi = (int(x, 16) for x in parts[0].split('-'))
    maps.append((lo, hi, parts[1], int(parts[2], 16), parts[5] if len(parts) > 5 else ''))
base = min(lo - off for lo, hi, perm, off, path in maps if path == exe)

# symbols (address order), sizes
syms = []
for line in subprocess.run(['nm', '-n', '-S', '--defined-only', unstripped], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if len(f) == 4:
        syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    elif len(f) == 3:
        syms.append((int(f[0], 16), 0, f[2]))
addrs = [s[0] for s in syms]

# sections
sections = []
for line in subprocess.run(['readelf', '-SW', unstripped], capture_output=True, text=True).stdout.splitlines():
    m = re.match(r'\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)', line)
    if m and int(m.group(2), 16):
        sections.append((int(m.group(2), 16), int(m.group(3), 16), m.group(1)))

MOD = re.compile(r'^_?\$s(s|(\d+)([A-Za-z_][A-Za-z0-9_]*))')
def component(name):
    m = MOD.match(name)
    if m:
        if m.group(1) == 's':
            return 'Swift stdlib'
        n = int(m.group(2)); mod = m.group(3)[:n]
        return 'swift:' + mod
    if name.startswith('$s') or name.startswith('_$s'):
        return 'swift:?'
    if re.search(r'_7[0-9]$', name) or name.startswith(('icu_', 'u_', 'ucol', 'ubrk', 'udat', 'uloc', 'ures', 'ucal', 'unum', 'ucnv', 'utrans', 'uregex', 'ulist', 'uset', 'ustr', 'utext', 'uidna', 'ucase', 'uprops', 'ubidi', 'unorm', 'uhash')) or 'icu' in name.lower():
        return 'ICU'
    if name.startswith(('CF', '__CF', '_CF', 'kCF', '__kCF', '_NS', 'NS', '__NS')):
        return 'CoreFoundation'
    if name.startswith(('swift_', '_swift', 'swift::', '_ZN5swift', '_ZNK5swift', '__swift', 'swift')):
        return 'Swift runtime'
    if name.startswith(('libssh2', '_libssh2')):
        return 'libssh2'
    if name.startswith('_Z'):
        return 'C++ (other)'
    return 'C (other)'

def owner(addr):
    i = bisect.bisect_right(addrs, addr) - 1
    return syms[i] if i >= 0 else None

def section(addr):
    for lo, size, name in sections:
        if lo <= addr < lo + size:
            return name
    return '?'

pm = open(f'/proc/{pid}/pagemap', 'rb')
by_comp = collections.Counter(); by_sec = collections.Counter(); by_sym = collections.Counter(); by_comp_sec = collections.Counter()
total = 0
for lo, hi, perm, off, path in maps:
    if path != exe:
        continue
    pm.seek(lo // PAGE * 8)
    data = pm.read((hi - lo) // PAGE * 8)
    for i in range(len(data) // 8):
        (entry,) = struct.unpack_from('<Q', data, i * 8)
        if not entry >> 63 & 1:
            continue
        total += 1
        va = lo + i * PAGE - base
        sec = section(va)
        by_sec[sec] += 1
        # attribute the page to the symbols overlapping it, by bytes
        j = bisect.bisect_right(addrs, va) - 1
        covered = collections.Counter()
        k = max(j, 0)
        while k < len(syms) and syms[k][0] < va + PAGE:
            a, size, name = syms[k]
            end = syms[k + 1][0] if k + 1 < len(syms) else a + max(size, 1)
            ov = min(end, va + PAGE) - max(a, va)
            if ov > 0:
                covered[name] += ov
            k += 1
        if not covered:
            by_comp['(no symbol)'] += 1; by_comp_sec[('(no symbol)', sec)] += 1
            continue
        tot = sum(covered.values())
        for name, b in covered.items():
            by_comp[component(name)] += b / tot
            by_comp_sec[(component(name), sec)] += b / tot
            by_sym[name] += b / tot

KiB = PAGE / 1024
print(f'binary {exe}: {total * KiB / 1024:.1f} MiB resident')
print('by section:'); [print(f'  {n * KiB / 1024:7.2f} MiB {s}') for s, n in by_sec.most_common()]
print('by component:'); [print(f'  {n * KiB / 1024:7.2f} MiB {c}') for c, n in by_comp.most_common(30)]
print('by component and section:'); [print(f'  {n * KiB / 1024:7.2f} MiB {c} {s}') for (c, s), n in by_comp_sec.most_common(40)]
print(f'top {top} symbols:'); [print(f'  {n * KiB:8.0f} KiB {s[:140]}') for s, n in by_sym.most_common(top)]
for want in os.environ.get('COMPONENTS', '').split(','):
    if want:
        print(f'top symbols of {want}:'); [print(f'  {n * KiB:8.0f} KiB {s[:140]}') for s, n in sorted(((s, n) for s, n in by_sym.items() if component(s) == want), key=lambda x: -x[1])[:top]]

# other mappings from smaps
rss = collections.Counter()
cur = None
for line in open(f'/proc/{pid}/smaps'):
    f = line.split()
    if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
        cur = f[5] if len(f) > 5 else '[anon]'
        if cur == exe: cur = '(binary)'
    elif f[0] == 'Rss:':
        rss[cur] += int(f[1])
print('smaps Rss by mapping:'); [print(f'  {v / 1024:7.2f} MiB {k}') for k, v in rss.most_common(25)]
print('status:', ' '.join(l.strip() for l in open(f'/proc/{pid}/status') if l.startswith(('VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'Threads'))))

#!/usr/bin/env bash
# The test tiers, read from the suites' own declarations (`@Suite("…", .tags(.lab), …) struct Name`):
#   scripts/test-tiers.sh lab-regex    a --filter/--skip regex matching every lab suite's tests
#   scripts/test-tiers.sh heavy-regex  the same for the whole-lab suites (`.wholeLab`)
#   scripts/test-tiers.sh check        every lab suite also runs off the pool (`.offPool`); exit 1 if not
# `swift test` cannot select by tag, so the tags are turned into suite-name regexes here; LabSupport's
# LabTierGuard makes sure that a test which starts a lab process really carries the tag.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import glob, re, sys

suites = []  # (name, traits text, file)
for path in sorted(glob.glob("Tests/*Tests/**/*.swift", recursive=True)):
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"@Suite\((.*?)\)\s*struct (\w+)", text, re.S):
        suites.append((m.group(2), m.group(1), path))

def regex(names):
    # Test IDs look like `Module.Suite/test(...)`: anchor on the dot and the slash so that
    # `FaultTests` does not also match `LoginFaultTests`.
    return r"\.(" + "|".join(sorted(names)) + r")/"

mode = sys.argv[1] if len(sys.argv) > 1 else ""
lab = [n for n, t, _ in suites if ".tags(.lab" in t]
if mode == "lab-regex":
    print(regex(lab))
elif mode == "heavy-regex":
    print(regex([n for n, t, _ in suites if ".wholeLab" in t]))
elif mode == "check":
    bad = [f"{p}: {n} is tagged .lab but does not run off the pool (.offPool)"
           for n, t, p in suites if ".tags(.lab" in t and ".offPool" not in t]
    bad += [f"{p}: {n} runs whole-lab tests (.wholeLab) but is not tagged .lab"
            for n, t, p in suites if ".wholeLab" in t and ".tags(.lab" not in t]
    for line in bad:
        print("test tiers: " + line, file=sys.stderr)
    if not bad:
        print(f"test tiers: {len(lab)} lab suites of {len(suites)}, each off the pool")
    sys.exit(1 if bad else 0)
else:
    print(__doc__ or "usage: scripts/test-tiers.sh lab-regex|heavy-regex|check", file=sys.stderr)
    sys.exit(2)
PY

#!/usr/bin/env python3
"""Checks the output of `cargo test` (file LOG, cargo's exit STATUS): every test binary's summary
has no failure, and every ignored test says why (`ignored (reason)` from the run-time harness, or
libtest's `ignored, reason`). Prints the totals and the ignored tests.

Usage: scripts/check-test-summary.py LOG STATUS
"""
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
status = int(sys.argv[2])
totals = dict(passed=0, failed=0, ignored=0)
sums = re.findall(r"^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored;", text, re.M)
for _, p, f, i in sums:
    totals["passed"] += int(p); totals["failed"] += int(f); totals["ignored"] += int(i)
# Not anchored at the line start: a test's own stderr without a newline may stand before it.
ignored = [(n.strip(), r) for n, r in re.findall(r"test (\S+) +\.\.\. ignored(.*)$", text, re.M)]
bad = [name for name, rest in ignored if not re.fullmatch(r" \(.+\)|, .+", rest)]
failed = [n.strip() for n in re.findall(r"^test (.+?) \.\.\. FAILED", text, re.M)]
print(f"cargo test: {len(sums)} test binaries, {totals['passed']} passed, "
      f"{totals['failed']} failed, {totals['ignored']} ignored")
for name, rest in ignored:
    print(f"  ignored: {name}{rest}")
problems = []
if status != 0:
    problems.append(f"cargo test exited {status}")
if not sums:
    problems.append("no test summary in the output")
if totals["failed"] or failed:
    problems.append("failed: " + ", ".join(failed))
if bad:
    problems.append("ignored without a reason: " + ", ".join(bad))
if len(ignored) != totals["ignored"]:
    problems.append(f"{totals['ignored']} ignored in the summaries but {len(ignored)} ignored lines")
if problems:
    print("check-test-summary: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)

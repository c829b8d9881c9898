#!/usr/bin/env python3
"""Checks that Cargo.toml's `rust-version` is honest: no package in the locked dependency graph
(for each target vpnmon is built for, dev-dependencies included since `cargo test` builds them)
declares a higher `rust-version`. Reads `cargo metadata --format-version 1 --locked`.

Usage: scripts/check-msrv.py [TARGET ...]   (default: x86_64-unknown-linux-gnu x86_64-pc-windows-gnu)
Exit 0 when ours is at least the highest; 1 (naming the packages) when it is lower; with
--exact, also 1 when ours is higher than needed (the README's "Rust 1.NN or newer" must not ask
for more than the dependencies do).
"""

import json
import os
import subprocess
import sys


def version(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def show(v):
    return ".".join(str(x) for x in v).removesuffix(".0") if v[2] == 0 else ".".join(map(str, v))


def main(argv):
    exact = "--exact" in argv
    targets = [a for a in argv if a != "--exact"] or [
        "x86_64-unknown-linux-gnu",
        "x86_64-pc-windows-gnu",
    ]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    ours = None
    needs = {}  # (name, version) -> rust_version
    for target in targets:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        meta = json.loads(out)
        resolved = {node["id"] for node in meta["resolve"]["nodes"]}
        members = set(meta["workspace_members"])
        for p in meta["packages"]:
            if p["id"] in members:
                ours = p.get("rust_version")
            elif p["id"] in resolved and p.get("rust_version"):
                needs[(p["name"], p["version"])] = p["rust_version"]
    if not ours:
        print("check-msrv: Cargo.toml has no rust-version", file=sys.stderr)
        return 1
    highest = max((version(v) for v in needs.values()), default=(0, 0, 0))
    above = sorted(
        (f"{n} {v} needs {rv}" for (n, v), rv in needs.items() if version(rv) > version(ours))
    )
    top = sorted(f"{n} {v}" for (n, v), rv in needs.items() if version(rv) == highest)
    print(
        f"rust-version {ours}; the locked dependencies ({len(needs)} declaring one, "
        f"targets {', '.join(targets)}) need at most {show(highest)} ({', '.join(top[:4])}"
        f"{', …' if len(top) > 4 else ''})"
    )
    if above:
        print(
            f"check-msrv: rust-version {ours} is lower than the dependencies need:\n  "
            + "\n  ".join(above),
            file=sys.stderr,
        )
        return 1
    if exact and version(ours) > highest:
        print(
            f"check-msrv: rust-version {ours} asks for more than the dependencies need "
            f"({show(highest)}); lower it, or say in Cargo.toml which feature of ours needs it",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Write ld/x86_64-gnu-up.order: the functions a glibc `vaultid up` runs
that ld/x86_64-musl-up.order does not name, for scripts/link-x86_64-gnu.sh
(which places them right after the musl file's).

    CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --bin vaultid \\
      --target-dir target/gnu-nostrip
    python3 scripts/symbol_order_gnu.py target/gnu-nostrip/release/vaultid

The musl order file (scripts/symbol_order.py) is made from the static
binary; a glibc build runs std's glibc paths instead, and std's symbols
(v0 mangling) carry a crate hash that differs between the two targets, so
part of what a glibc restore runs is not in it. This runs the unstripped
glibc binary's `up`, restoring from a `bao server -dev` (http) into an
empty key dir, under valgrind's callgrind, and lists every function of the
binary it ran (names without Rust's `17h<hex>E` hash, as the link script
matches them) that the musl file lacks.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_edge as be  # noqa: E402
from symbol_order import ROOT, unhashed  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--musl", default=os.path.join(ROOT, "ld", "x86_64-musl-up.order"))
    ap.add_argument("--out", default=os.path.join(ROOT, "ld", "x86_64-gnu-up.order"))
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        be.die("valgrind not found")
    have = {line.strip() for line in open(args.musl)}
    work = tempfile.mkdtemp(prefix="vaultid-order-gnu-")
    try:
        bao = be.Bao(work)
        try:
            agent = "order-" + os.urandom(4).hex()
            vault = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token}
            seed = subprocess.run(
                [args.binary, "up"],
                env=be.up_env(work, os.path.join(work, "seed"), agent, vault),
                capture_output=True,
                text=True,
            )
            if seed.returncode != 0:
                be.die(f"seeding Vault: {seed.stderr.strip()}")
            key_dir = os.path.join(work, "keys")
            os.mkdir(key_dir, 0o700)
            out = os.path.join(work, "callgrind.out")
            r = subprocess.run(
                ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
                 args.binary, "up"],
                env=be.up_env(work, key_dir, agent, vault),
                capture_output=True,
                text=True,
            )
            if r.returncode != 0 or '"keys_source":"vault"' not in r.stdout:
                be.die(f"up under callgrind: exit {r.returncode}: {r.stdout} {r.stderr[-500:]}")
            text = open(out).read()
        finally:
            bao.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # `ob=(n) path` names the object, `fn=(n) name` a function, each given
    # in full the first time and by number after.
    objects, binary_obj = {}, None
    order, seen = [], set()
    cur_ob = None
    target = os.path.realpath(args.binary)
    for line in text.splitlines():
        m = re.match(r"^ob=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(2):
                objects[m.group(1)] = m.group(2)
            cur_ob = m.group(1)
            if os.path.realpath(objects.get(cur_ob, "")) == target:
                binary_obj = cur_ob
            continue
        m = re.match(r"^fn=\((\d+)\) (.*)$", line)
        if m and cur_ob == binary_obj and binary_obj is not None:
            name = unhashed(m.group(2))
            if name not in have and name not in seen and not name.startswith("0x"):
                seen.add(name)
                order.append(name)
    with open(args.out, "w") as f:
        f.write("\n".join(order) + "\n")
    print(f"{args.out}: {len(order)} functions the musl order file lacks", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write ld/x86_64-musl-up.order: the functions `vaultid up` runs, in the
order it first runs them, for the linker's --symbol-ordering-file.

    CARGO_PROFILE_RELEASE_STRIP=false \\
      cargo build --release --target x86_64-unknown-linux-musl --bin vaultid
    python3 scripts/symbol_order.py target/x86_64-unknown-linux-musl/release/vaultid

The binary must carry its symbol table (built with
CARGO_PROFILE_RELEASE_STRIP=false; the layout is the same as the stripped
one's). Starts two `bao server -dev` on free loopback ports, one plain and
one with `-dev-tls`; for each (http first, then https) stores an identity
with one `up` and runs `up` restoring it into an empty key dir under
qemu-x86_64 with instruction logging (`-d in_asm`: every translated
block once), maps each executed address to the function holding it, and
writes the functions in order of first execution, without Rust's symbol
hash (scripts/link-x86_64-musl.sh resolves the names at link time).
Functions missing from a later build are skipped; a stale file costs
memory, never correctness. See BENCHMARKS.md, "Edge hosts".
"""

import argparse
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_edge as be  # noqa: E402
import bench_rss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where qemu-user loads a position-independent x86_64 guest.
GUEST_BASE = 0x4000000000


def functions(binary):
    """Sorted (start, end, name) of the binary's function symbols."""
    out = subprocess.run(
        ["nm", "--defined-only", "-S", binary], check=True, capture_output=True, text=True
    ).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            start, size = int(f[0], 16), int(f[1], 16)
            if size:
                syms.append((start, start + size, f[3]))
    if not syms:
        be.die(f"{binary} has no symbol table: build it with CARGO_PROFILE_RELEASE_STRIP=false")
    syms.sort()
    return syms


def unhashed(name):
    """`name` without LLVM's `.<n>` suffix and Rust's `17h<hex>E` hash (scripts/link-x86_64-musl.sh
    matches it again at link time)."""
    name = re.sub(r"\.[0-9]+$", "", name)
    return re.sub(r"17h[0-9a-f]+E$", "", name)


def executed(binary, env, log):
    """Guest addresses of the instructions `binary up` executed, in first-run order."""
    qemu = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
    if not qemu:
        be.die("qemu-x86_64 not found (apt-get install qemu-user-static)")
    r = subprocess.run(
        [qemu, "-d", "in_asm", "-D", log, binary, "up"], env=env, capture_output=True, text=True
    )
    if r.returncode != 0:
        be.die(f"up under qemu: exit {r.returncode}: {r.stderr.strip()}")
    if json.loads(r.stdout)["keys_source"] != "vault":
        be.die(f"up under qemu did not restore from Vault: {r.stdout}")
    for line in open(log):
        if line.startswith("0x"):
            a = int(line.split(":", 1)[0], 16) - GUEST_BASE
            if a >= 0:
                yield a


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--out", default=os.path.join(ROOT, "ld", "x86_64-musl-up.order"))
    args = ap.parse_args()
    syms = functions(args.binary)
    starts = [s[0] for s in syms]
    work = tempfile.mkdtemp(prefix="vaultid-order-")
    order, order_set, seen = [], set(), set()
    try:
        plain = be.Bao(work)
        try:
            tls = bench_rss.TlsBao(work)
            try:
                # http first: a restore over http then touches one run of
                # blocks; what https adds follows it.
                for n, (bao, extra) in enumerate(((plain, {}), (tls, {"VAULT_CACERT": tls.ca}))):
                    agent = "order-" + os.urandom(4).hex()
                    vault = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token, **extra}
                    seed = subprocess.run(
                        [args.binary, "up"],
                        env=be.up_env(work, os.path.join(work, f"seed{n}"), agent, vault),
                        capture_output=True,
                        text=True,
                    )
                    if seed.returncode != 0:
                        be.die(f"seeding Vault: {seed.stderr.strip()}")
                    key_dir = os.path.join(work, f"keys{n}")
                    os.mkdir(key_dir, 0o700)
                    env = be.up_env(work, key_dir, agent, vault)
                    for a in executed(args.binary, env, os.path.join(work, f"qemu{n}.log")):
                        i = bisect.bisect_right(starts, a) - 1
                        if i >= 0 and a < syms[i][1] and syms[i][2] not in seen:
                            seen.add(syms[i][2])
                            name = unhashed(syms[i][2])
                            if name not in order_set:
                                order_set.add(name)
                                order.append(name)
            finally:
                tls.stop()
        finally:
            plain.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(args.out, "w") as f:
        f.write("\n".join(order) + "\n")
    size = sum(e - s for s, e, n in syms if n in seen)
    print(f"{args.out}: {len(order)} functions, {size} bytes of code", file=sys.stderr)


if __name__ == "__main__":
    main()

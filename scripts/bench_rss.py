#!/usr/bin/env python3
"""Peak RSS of `vaultid up` restoring an identity from Vault into an empty
key dir, for several builds side by side, over http and https.

    gcc -O2 -o target/bench/bench_spawn scripts/bench_spawn.c
    python3 scripts/bench_rss.py [--runs N] NAME=BINARY [NAME=BINARY ...]

Starts two `bao server -dev` on free loopback ports, one plain and one with
`-dev-tls` (its generated CA passed as VAULT_CACERT), stores one identity in
each, then runs every binary `up` into a fresh key dir, round-robin, N
rounds per server. Peak RSS and wall time come from scripts/bench_spawn.c
(wait4's ru_maxrss, the kernel's VmHWM). Every run must say it restored the
stored DID from Vault. Prints a Markdown table.
"""

import argparse
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time

import bench_edge as be  # scripts/ is sys.path[0] when run as a script
from benchlib import ROOT, Bao, Spawner, bare_env, die, free_port, median, wait_ready


class TlsBao(Bao):
    """`bao server -dev -dev-tls`: https on loopback with a generated CA."""

    def __init__(self, work):
        bao = shutil.which("bao") or die("bao not found (scripts/setup.sh)")
        self.port = free_port(2)
        self.token = "bench-" + os.urandom(8).hex()
        self.addr = f"https://127.0.0.1:{self.port}"
        certs = os.path.join(work, "tls")
        os.makedirs(certs)
        self.ca = os.path.join(certs, "vault-ca.pem")
        self.log = open(os.path.join(work, "bao-tls.log"), "wb")
        self.proc = subprocess.Popen(
            [
                bao, "server", "-dev", "-dev-tls", f"-dev-tls-cert-dir={certs}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                f"-dev-root-token-id={self.token}", "-dev-no-store-token",
            ],
            env=bare_env({"HOME": work}),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        # The server writes its CA first, then listens.
        deadline = time.time() + 60
        while not os.path.exists(self.ca) and self.proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        ctx = ssl.create_default_context(cafile=self.ca) if os.path.exists(self.ca) else None
        if ctx is None or not wait_ready(self.addr, ctx):
            self.stop()
            die("bao server -dev-tls did not become ready")


def measure(sp, work, bins, runs, vault):
    agent = "rss-" + os.urandom(4).hex()
    first = bins[0][1]
    code, _, _, _, out, err = sp.run([first, "up"], be.up_env(work, os.path.join(work, agent), agent, vault))
    if code != 0:
        die(f"seeding Vault: {err.strip()}")
    want = json.loads(out)["did"]
    res = {name: [] for name, _ in bins}
    for i in range(runs):
        for name, binary in bins[i % len(bins):] + bins[: i % len(bins)]:
            key_dir = tempfile.mkdtemp(dir=work)
            code, wall, rss, _, out, err = sp.run([binary, "up"], be.up_env(work, key_dir, agent, vault))
            if code != 0:
                die(f"{name}: exit {code}: {err.strip()}")
            o = json.loads(out)
            if o["keys_source"] != "vault" or o["did"] != want:
                die(f"{name}: not restored from Vault: {out}")
            res[name].append((rss, wall))
            shutil.rmtree(key_dir)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--launcher", default=os.path.join(ROOT, "target", "bench", "bench_spawn"))
    ap.add_argument("bins", nargs="+", metavar="NAME=BINARY")
    a = ap.parse_args()
    bins = [tuple(b.split("=", 1)) for b in a.bins]
    work = tempfile.mkdtemp(prefix="vaultid-rss-")
    sp = Spawner(a.launcher, work)
    rows = []
    plain = Bao(work)
    try:
        tls = TlsBao(work)
        try:
            for label, bao, extra in (
                ("http", plain, {}),
                ("https (VAULT_CACERT)", tls, {"VAULT_CACERT": tls.ca}),
            ):
                vault = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token, **extra}
                res = measure(sp, work, bins, a.runs, vault)
                for name, _ in bins:
                    r = [x[0] for x in res[name]]
                    w = [x[1] * 1000 for x in res[name]]
                    rows.append(
                        f"| {label} | {name} | {median(r) / 1000:.2f} MB | {max(r) / 1000:.2f} MB "
                        f"| {median(w):.1f} |"
                    )
        finally:
            tls.stop()
    finally:
        plain.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"`up` restoring from Vault into an empty key dir, {a.runs} rounds per server, interleaved:\n")
    print("| Vault | binary | peak RSS median | peak RSS max | wall median ms |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

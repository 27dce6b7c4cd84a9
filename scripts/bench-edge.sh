#!/usr/bin/env bash
# Edge-host figures for the static binaries (see scripts/bench_edge.py):
# time to fall back to local keys (refused, three refusing nodes, stalled,
# against the local-only baseline), `up` peak RSS restoring from Vault per
# target, binary sizes against size-budget.txt.
#
#     ./scripts/bench-edge.sh [--runs N] [--rss-runs M] [--write BENCHMARKS.md]
#
# Builds the x86_64 static binary and the bench_spawn helper; the aarch64,
# armv7 and riscv64 binaries are measured (under qemu-user) when
# scripts/test.sh's musl stages have built them. Starts and stops its own
# `bao server -dev` on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
cargo build --release --quiet --target x86_64-unknown-linux-musl --bin vaultid
mkdir -p target/bench
gcc -O2 -Wall -o target/bench/bench_spawn scripts/bench_spawn.c
exec python3 scripts/bench_edge.py --launcher target/bench/bench_spawn "$@"

#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md, one after the other, each rewriting its
# own block of the file (between its markers), so that one run regenerates
# the results with the same build, on the same machine, the same day.
#
#     ./scripts/bench-all.sh              # every step, in the order below
#     ./scripts/bench-all.sh sign edge    # only these steps, in this order
#     ./scripts/bench-all.sh --list       # the steps and their commands
#
# Each step is a command that writes its own block of BENCHMARKS.md (its
# markers are named below); the figures inside a block are measured side
# by side in that step's run (programs interleaved, ratios per round). A
# step that fails stops the run; the blocks written before it stay. What
# each step prints goes to target/bench/STEP.log. The first step builds
# the four static binaries that the others measure (markers `-`: it writes
# no block).
#
# To add a benchmark: one line in STEPS, `name|markers|command`, where the
# command rewrites the block between `<!-- MARKERS:begin ... -->` and
# `<!-- MARKERS:end -->` of BENCHMARKS.md (the scripts here take
# `--write BENCHMARKS.md` or splice the file themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"

STEPS=(
    # the static musl binaries of the four targets (scripts/build-static.sh)
    "build|-|./scripts/build-static.sh"
    # warm restore against hvac, vaultrs and the bare-ureq floor; KV read
    # throughput; the fallback with Vault down
    "restore|bench|./scripts/bench.sh --runs 40"
    # sign/verify per second against PyNaCl; one `vaultid call` against a
    # Python signing step + curl
    "sign|bench-sign|./scripts/bench_sign.py --rounds 5 --iterations 20000 --calls 20"
    # static binaries: fallback latencies, sizes against the budget, `up`
    # peak RSS per target (the x86_64 one natively)
    "edge|edge|./scripts/bench-edge.sh --runs 20 --rss-runs 5 --write BENCHMARKS.md"
    # three-node Raft cluster: leader loss, standby reads, a thundering herd
    "ha|bench-ha|python3 scripts/bench_ha.py --rounds 3 --warm-runs 20 --herd 500 --parallel 24 --rate 50 --write BENCHMARKS.md"
    # `vaultid agent` against `bao agent`, the same job, 10 idle minutes
    "agent|bench-agent|./scripts/bench-agent.sh --write BENCHMARKS.md 600"
    # 50 Vault Agent templates, both agents, 10 idle minutes
    "templates|bench-templates|./scripts/bench-templates.sh --write BENCHMARKS.md 600"
    # the local gateway against bao proxy, 200 connections
    "gateway|bench-gateway|./scripts/bench-gateway.sh --write BENCHMARKS.md 200 20000"
    # the container image against the bao binary
    "image|bench-image|./scripts/image.sh --write BENCHMARKS.md"
)

list() {
    for s in "${STEPS[@]}"; do
        IFS='|' read -r name markers cmd <<<"$s"
        printf '%-10s %-16s %s\n' "$name" "$markers" "$cmd"
    done
}

if [ "${1:-}" = "--list" ]; then
    list
    exit 0
fi

wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
    for s in "${STEPS[@]}"; do wanted+=("${s%%|*}"); done
fi

for w in "${wanted[@]}"; do
    found=
    for s in "${STEPS[@]}"; do
        IFS='|' read -r name markers cmd <<<"$s"
        [ "$name" = "$w" ] || continue
        found=1
        [ "$markers" = - ] || grep -q "<!-- $markers:begin" BENCHMARKS.md || {
            echo "bench-all: BENCHMARKS.md has no <!-- $markers:begin --> marker for step $name" >&2
            exit 2
        }
        echo "bench-all: $name: $cmd" >&2
        start=$(date +%s)
        mkdir -p target/bench
        eval "$cmd" >"target/bench/$name.log"
        echo "bench-all: $name: done in $(($(date +%s) - start)) s (output: target/bench/$name.log)" >&2
    done
    [ -n "$found" ] || {
        echo "bench-all: no step named $w; steps:" >&2
        list >&2
        exit 2
    }
done

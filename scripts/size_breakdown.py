#!/usr/bin/env python3
"""What the bytes of a binary are: code and read-only data by crate.

    scripts/size_breakdown.py UNSTRIPPED_BINARY [N]

Build an unstripped copy first, e.g.

    CARGO_PROFILE_RELEASE_STRIP=false cargo build --release \\
        --target x86_64-unknown-linux-musl --bin vaultid

Reads `nm --size-sort -S` and `size -A`, demangles with c++filt, and sums
symbol sizes per crate (the first path segment of the demangled name;
std's backtrace symbolizer, LLVM's libunwind, ring's C and assembly and
the C library get their own rows). Prints Markdown tables of the sections
and of the N largest crates (default 20).
"""

import collections
import re
import subprocess
import sys


def crate(dem, raw):
    d = re.sub(r"\[[0-9a-f]+\]", "", dem)
    if "backtrace_rs" in d or re.match(r"[<&]*(gimli|addr2line|miniz_oxide|rustc_demangle)::", d):
        return "std's backtrace symbolizer (gimli, addr2line, miniz_oxide, rustc_demangle)"
    if raw.startswith("ring_core") or raw in ("ecp_nistz256_precomputed",):
        return "ring (C and assembly)"
    if "libunwind" in d[:40] or raw.startswith(("_Unwind", "unw_", "__unw")):
        return "libunwind"
    m = re.match(r"[<&_ ]*(?:bool |void |int |unsigned long )?(?:mut )?([A-Za-z_][A-Za-z0-9_]*)::", d)
    if m:
        return m.group(1)
    if re.match(r"<?(str|f64|f32|u\d+|i\d+|usize|isize|bool|char|\[)", d):
        return "core"
    return "C library (musl) and unnamed"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    nm = subprocess.run(["nm", "--size-sort", "-S", "--radix=d", binary], capture_output=True, text=True, check=True)
    syms = []
    for line in nm.stdout.splitlines():
        p = line.split(" ", 3)
        if len(p) == 4:
            syms.append((int(p[1]), p[2], p[3]))
    dem = subprocess.run(["c++filt"], input="\n".join(s[2] for s in syms), capture_output=True, text=True).stdout.split("\n")
    code, data = collections.Counter(), collections.Counter()
    for (size, kind, raw), d in zip(syms, dem):
        if kind.lower() in "tw":
            code[crate(d, raw)] += size
        elif kind.lower() in "rv":
            data[crate(d, raw)] += size
    print("| section | bytes |\n|---|---|")
    for line in subprocess.run(["size", "-A", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[0].startswith(".") and not p[0].startswith((".debug", ".comment")) and int(p[1]) >= 4096:
            print(f"| `{p[0]}` | {int(p[1]):,} |")
    total = sum(code.values())
    print(f"\n| code (`.text` symbols), by crate | bytes | share |\n|---|---|---|")
    for k, v in code.most_common(top):
        print(f"| {k} | {v:,} | {100 * v / total:.1f}% |")
    print(f"| all code symbols | {total:,} | |")
    print("\n| read-only data symbols, by crate | bytes |\n|---|---|")
    for k, v in data.most_common(6):
        print(f"| {k} | {v:,} |")


if __name__ == "__main__":
    main()

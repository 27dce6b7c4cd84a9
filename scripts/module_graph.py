#!/usr/bin/env python3
"""The crate's module graph, and whether it has a circle.

    python3 scripts/module_graph.py [--depth N] [--edges]

Reads every file under src/, works out the module it is (src/vault/kv2.rs
is vault::kv2, src/vault/mod.rs and src/vault.rs are vault), and collects
every path that starts with `crate::` in its code: `use crate::...` lines,
grouped ones (`use crate::{a::X, b::Y}`) and paths written inline
(`crate::identity::did::sanitize(s)`). Comments and doc comments are left
out (an intra-doc link is no dependency), and so is test code: files named
tests.rs and a file's `#[cfg(test)] mod tests` block. A path through a
re-export at the crate root (`crate::Error`) counts for the module that
defines the item (`error`), as src/lib.rs's `pub use` lines say.

Modules are compared at depth N (default 1: `vault::kv2` counts as
`vault`), so a module's own files may use each other. Exit status 1 and
each circle printed when the graph has one; `--edges` prints every edge.
"""
import collections
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")


def module_of(rel):
    """src-relative file path -> module path (a list); [] for the root."""
    parts = rel[:-3].split(os.sep)  # drop ".rs"
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def code_only(text):
    """The text without comments, string contents and test code."""
    # A file's unit tests: from `#[cfg(test)]` before `mod tests` on.
    m = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*mod tests\b", text, re.M)
    if m:
        text = text[: m.start()]
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = []
    for line in text.splitlines():
        # Strings first, so a `//` inside one is not a comment.
        line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
        line = line.split("//", 1)[0]
        out.append(line)
    return "\n".join(out)


def crate_paths(code):
    """Every `crate::` path in `code`, as lists of segments (grouped
    imports expanded one level: `crate::{a::X, b}` -> [a, X], [b])."""
    paths = []
    for m in re.finditer(r"(?<![\w$])crate::", code):
        rest = code[m.end():]
        if rest.startswith("{"):
            depth, i = 0, 0
            for i, ch in enumerate(rest):
                depth += ch == "{"
                depth -= ch == "}"
                if depth == 0:
                    break
            inner, parts, depth, cur = rest[1:i], [], 0, ""
            for ch in inner:
                if ch == "," and depth == 0:
                    parts.append(cur)
                    cur = ""
                    continue
                depth += ch == "{"
                depth -= ch == "}"
                cur += ch
            parts.append(cur)
            for p in parts:
                segs = re.findall(r"\w+", p.split("{", 1)[0])
                if segs:
                    paths.append(segs)
        else:
            segs = re.match(r"\w+(?:\s*::\s*\w+)*", rest)
            if segs:
                paths.append([s.strip() for s in segs.group(0).split("::")])
    return paths


def root_reexports(lib_code):
    """Names re-exported at the crate root -> the module path they name."""
    names = {}
    for m in re.finditer(r"pub(?:\(crate\))?\s+use\s+([\w:]+)::\{([^}]*)\}\s*;", lib_code):
        for name in re.findall(r"\w+", m.group(2)):
            names[name] = m.group(1).split("::")
    for m in re.finditer(r"pub(?:\(crate\))?\s+use\s+([\w:]+)::(\w+)\s*;", lib_code):
        names[m.group(2)] = m.group(1).split("::")
    return names


def main():
    depth = 1
    if "--depth" in sys.argv:
        depth = int(sys.argv[sys.argv.index("--depth") + 1])
    files = {}
    for dirpath, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs") and n != "tests.rs":
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, SRC)
                with open(path, encoding="utf-8") as f:
                    files[rel] = code_only(f.read())
    modules = {rel: module_of(rel) for rel in files}
    known = {tuple(m) for m in modules.values() if m}
    reexports = root_reexports(files.get("lib.rs", ""))

    def target(segs):
        if segs[0] in reexports and (segs[0],) not in known:
            segs = reexports[segs[0]] + segs[1:]
        # The longest known module the path starts with.
        for n in range(len(segs), 0, -1):
            if tuple(segs[:n]) in known:
                return segs[:n]
        return None

    edges = collections.defaultdict(set)
    for rel, code in files.items():
        src = modules[rel]
        if not src or src == ["main"]:
            continue  # the crate root only declares and re-exports
        a = "::".join(src[:depth])
        for segs in crate_paths(code):
            t = target(segs)
            if t is None:
                continue
            b = "::".join(t[:depth])
            if a != b:
                edges[a].add(b)

    if "--edges" in sys.argv:
        for a in sorted(edges):
            print(f"{a} -> {', '.join(sorted(edges[a]))}")

    # Strongly connected components (Tarjan): each with more than one
    # module is a circle.
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]
    nodes = sorted(set(edges) | {b for bs in edges.values() for b in bs})

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    n_edges = sum(len(b) for b in edges.values())
    if sccs:
        for comp in sccs:
            inner = [
                f"{a} -> {b}" for a in comp for b in sorted(edges.get(a, ())) if b in comp
            ]
            print(f"circle: {', '.join(comp)} ({'; '.join(inner)})")
        print(f"module graph (depth {depth}): {len(nodes)} modules, {n_edges} edges, "
              f"{len(sccs)} circle(s)")
        return 1
    print(f"module graph (depth {depth}): {len(nodes)} modules, {n_edges} edges, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Count or list the crate's public API from rustdoc's JSON output.

    cargo +nightly rustdoc --lib -- -Z unstable-options --output-format json
    python3 scripts/api_count.py target/doc/vaultid.json [-v | --list]

An item is counted once however many public paths lead to it (a re-export
is not a second item). Counted: modules, structs, enums, traits, functions,
inherent methods and associated items, trait items, constants, statics and
type aliases reachable from the crate root through public paths. Not
counted: fields, variants, trait impls. Items rustdoc hides (`#[doc(hidden)]`,
such as the `fuzzing` module) are not in the JSON and so not counted.
`-v` lists every item with its shortest public path.

`--list` prints the snapshot kept in api/public-api.txt (scripts/api-snapshot.sh
writes and checks it): one line per item, sorted by path, with its kind and
what a caller depends on: function signatures, field and constant types,
variants, `#[non_exhaustive]`, the traits a type implements (written or
derived; of the auto traits only Send and Sync, whose loss breaks callers).
Paths in types are shortened to their last segment.
"""
import collections
import json
import sys


def main():
    doc = json.load(open(sys.argv[1]))
    index = doc["index"]
    found = {}  # id -> (path, kind)

    def item(i):
        return index.get(str(i))

    def kind(it):
        return next(iter(it["inner"]))

    def add(i, path, k):
        if i in found and len(found[i][0]) <= len(path):
            return False
        found[i] = (path, k)
        return True

    def members(it, path):
        k = kind(it)
        if k in ("struct", "enum", "union"):
            for impl_id in it["inner"][k].get("impls", []):
                impl = item(impl_id)
                if impl is None or impl["inner"]["impl"].get("trait") is not None:
                    continue
                for m in impl["inner"]["impl"]["items"]:
                    mi = item(m)
                    if mi and mi["visibility"] == "public":
                        add(m, path + "::" + mi["name"], kind(mi))
        elif k == "trait":
            for m in it["inner"]["trait"]["items"]:
                mi = item(m)
                if mi:
                    add(m, path + "::" + mi["name"], "trait item")

    def walk(module_id, path, seen):
        if module_id in seen:
            return
        seen.add(module_id)
        for child_id in item(module_id)["inner"]["module"]["items"]:
            child = item(child_id)
            if child is None or child["visibility"] != "public":
                continue
            if kind(child) == "use":
                use = child["inner"]["use"]
                target_id = use.get("id")
                if target_id is None or item(target_id) is None:
                    continue
                child_id, child, name = target_id, item(target_id), use["name"]
            else:
                name = child["name"]
            k = kind(child)
            p = path + "::" + name
            add(child_id, p, k)
            if k == "module":
                walk(child_id, p, seen)
            else:
                members(child, p)

    walk(doc["root"], "vaultid", set())
    if "--list" in sys.argv:
        for line in listing(doc, found):
            print(line)
        return
    if "-v" in sys.argv:
        for p, k in sorted(found.values()):
            print(f"{k:12} {p}")
    by_module = collections.Counter()
    for p, _ in found.values():
        parts = p.split("::")
        by_module[parts[1] if len(parts) > 2 else "(root)"] += 1
    for m, n in by_module.most_common():
        print(f"{n:5} {m}")
    print(f"{len(found):5} public items")


# --- the listing ------------------------------------------------------------

AUTO_TRAITS_KEPT = {"Send", "Sync"}
# Impls the compiler adds for derives; not a promise of their own.
TRAITS_SKIPPED = {"StructuralPartialEq"}


def listing(doc, found):
    index = doc["index"]

    def item(i):
        return index.get(str(i))

    lines = []
    for i, (path, k) in found.items():
        it = item(i)
        inner = it["inner"][k]
        marks = " #[non_exhaustive]" if "non_exhaustive" in it.get("attrs", []) else ""
        if k == "function":
            lines.append((path, f"fn {path}{signature(inner)}"))
        elif k == "trait item":
            ik = next(iter(it["inner"]))
            if ik == "function":
                lines.append((path, f"trait-fn {path}{signature(it['inner'][ik])}"))
            else:
                lines.append((path, f"trait-{ik} {path}"))
        elif k in ("constant", "assoc_const"):
            lines.append((path, f"const {path}: {ty(inner['type'])}"))
        elif k == "static":
            lines.append((path, f"static {path}: {ty(inner['type'])}"))
        elif k == "type_alias":
            lines.append((path, f"type {path}{generics(inner['generics'])} = {ty(inner['type'])}"))
        elif k == "struct":
            lines.append((path, f"struct {path}{generics(inner['generics'])}{marks}"))
            lines += fields(index, path, inner["kind"])
            lines += impls(index, path, inner["impls"])
        elif k == "enum":
            lines.append((path, f"enum {path}{generics(inner['generics'])}{marks}"))
            for v in inner["variants"]:
                vi = item(v)
                vpath = f"{path}::{vi['name']}"
                vmarks = " #[non_exhaustive]" if "non_exhaustive" in vi.get("attrs", []) else ""
                kind = vi["inner"]["variant"]["kind"]
                if isinstance(kind, dict) and "tuple" in kind:
                    types = ", ".join(
                        ty(item(f)["inner"]["struct_field"]) if f is not None else "_"
                        for f in kind["tuple"]
                    )
                    lines.append((vpath, f"variant {vpath}({types}){vmarks}"))
                else:
                    lines.append((vpath, f"variant {vpath}{vmarks}"))
                    if isinstance(kind, dict) and "struct" in kind:
                        lines += fields(index, vpath, {"plain": kind["struct"]})
            lines += impls(index, path, inner["impls"])
        elif k == "trait":
            lines.append((path, f"trait {path}{generics(inner['generics'])}"))
        else:
            lines.append((path, f"{k} {path}"))
    # Sorted by path, so a type's traits, fields, variants and methods
    # follow it.
    return [line for _, line in sorted(lines)]


def fields(index, path, kind):
    out = []
    if "plain" in kind:
        for f in kind["plain"]["fields"]:
            fi = index[str(f)]
            # Private fields are stripped from the JSON; a variant's fields
            # have the enum's visibility ("default").
            if fi["visibility"] in ("public", "default"):
                fpath = f"{path}::{fi['name']}"
                out.append((fpath, f"field {fpath}: {ty(fi['inner']['struct_field'])}"))
    elif "tuple" in kind:
        for n, f in enumerate(kind["tuple"]):
            if f is not None:
                fi = index[str(f)]
                if fi["visibility"] in ("public", "default"):
                    fpath = f"{path}::{n}"
                    out.append((fpath, f"field {fpath}: {ty(fi['inner']['struct_field'])}"))
    return out


def impls(index, path, impl_ids):
    names = set()
    for i in impl_ids:
        impl = index.get(str(i))
        if impl is None:
            continue
        im = impl["inner"]["impl"]
        trait = im.get("trait")
        if trait is None or im.get("blanket_impl") is not None:
            continue
        name = trait["path"].rsplit("::", 1)[-1]
        if im.get("is_synthetic") and name not in AUTO_TRAITS_KEPT:
            continue
        if name in TRAITS_SKIPPED:
            continue
        neg = "!" if im.get("is_negative") else ""
        names.add(f"{neg}{name}{args(trait.get('args'))}")
    # "~" sorts after every path character: the impls follow the type's own
    # line, before its fields and methods.
    return [(path + " ~", f"impl {path}: {n}") for n in sorted(names)]


def signature(f):
    sig = f["sig"]
    params = []
    for name, t in sig["inputs"]:
        if name == "self":
            params.append(self_param(t))
        else:
            params.append(f"{name}: {ty(t)}")
    out = f"{generics(f['generics'])}({', '.join(params)})"
    if sig.get("output") is not None:
        out += f" -> {ty(sig['output'])}"
    return out + where(f["generics"])


def self_param(t):
    if t == {"generic": "Self"}:
        return "self"
    if "borrowed_ref" in t and t["borrowed_ref"]["type"] == {"generic": "Self"}:
        return "&mut self" if t["borrowed_ref"]["is_mutable"] else "&self"
    return f"self: {ty(t)}"


def generics(g):
    ps = []
    for p in g["params"]:
        kind = p["kind"]
        if "lifetime" in kind:
            ps.append(p["name"])
        elif "type" in kind:
            if kind["type"].get("is_synthetic"):
                continue  # an `impl Trait` argument, shown where it is
            b = bounds(kind["type"]["bounds"])
            d = kind["type"].get("default")
            ps.append(p["name"] + (f": {b}" if b else "") + (f" = {ty(d)}" if d else ""))
        elif "const" in kind:
            ps.append(f"const {p['name']}: {ty(kind['const']['type'])}")
    return f"<{', '.join(ps)}>" if ps else ""


def where(g):
    preds = []
    for w in g["where_predicates"]:
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            preds.append(f"{ty(bp['type'])}: {bounds(bp['bounds'])}")
    return f" where {', '.join(preds)}" if preds else ""


def bounds(bs):
    out = []
    for b in bs:
        if "trait_bound" in b:
            tb = b["trait_bound"]
            mod = "?" if tb.get("modifier") == "maybe" else ""
            out.append(mod + path_of(tb["trait"]))
        elif "outlives" in b:
            out.append(b["outlives"])
        elif "use" in b:
            out.append("use<" + ", ".join(str(x.get("lifetime", x.get("param", x))) if isinstance(x, dict) else str(x) for x in b["use"]) + ">")
    return " + ".join(out)


def path_of(p):
    return p["path"].rsplit("::", 1)[-1] + args(p.get("args"))


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        ab = a["angle_bracketed"]
        parts = []
        for x in ab["args"]:
            if isinstance(x, dict) and "type" in x:
                parts.append(ty(x["type"]))
            elif isinstance(x, dict) and "lifetime" in x:
                parts.append(x["lifetime"])
            elif isinstance(x, dict) and "const" in x:
                parts.append(str(x["const"].get("expr", "_")))
            else:
                parts.append("_")
        for c in ab.get("constraints", []):
            binding = c["binding"]
            if "equality" in binding:
                eq = binding["equality"]
                val = ty(eq["type"]) if "type" in eq else str(eq)
                parts.append(f"{c['name']} = {val}")
            else:
                parts.append(f"{c['name']}: {bounds(binding['constraint'])}")
        return f"<{', '.join(parts)}>" if parts else ""
    if "parenthesized" in a:
        pa = a["parenthesized"]
        out = "(" + ", ".join(ty(t) for t in pa["inputs"]) + ")"
        if pa.get("output") is not None:
            out += f" -> {ty(pa['output'])}"
        return out
    return "<..>"


def ty(t):
    if t is None:
        return "()"
    k, v = next(iter(t.items()))
    if k == "resolved_path":
        return path_of(v)
    if k in ("generic", "primitive"):
        return v
    if k == "borrowed_ref":
        lt = f"{v['lifetime']} " if v.get("lifetime") else ""
        return f"&{lt}{'mut ' if v['is_mutable'] else ''}{ty(v['type'])}"
    if k == "raw_pointer":
        return f"*{'mut' if v['is_mutable'] else 'const'} {ty(v['type'])}"
    if k == "slice":
        return f"[{ty(v)}]"
    if k == "array":
        return f"[{ty(v['type'])}; {v['len']}]"
    if k == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if k == "impl_trait":
        return "impl " + bounds(v)
    if k == "dyn_trait":
        traits = " + ".join(path_of(x["trait"]) for x in v["traits"])
        lt = f" + {v['lifetime']}" if v.get("lifetime") else ""
        return f"dyn {traits}{lt}"
    if k == "qualified_path":
        return f"<{ty(v['self_type'])} as {path_of(v['trait']) if v.get('trait') else '?'}>::{v['name']}"
    if k == "function_pointer":
        sig = v["sig"]
        out = "fn(" + ", ".join(ty(x) for _, x in sig["inputs"]) + ")"
        if sig.get("output") is not None:
            out += f" -> {ty(sig['output'])}"
        return out
    if k == "infer":
        return "_"
    return f"<{k}>"


if __name__ == "__main__":
    main()

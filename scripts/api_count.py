#!/usr/bin/env python3
"""Count the crate's public API from rustdoc's JSON output.

    cargo +nightly rustdoc --lib -- -Z unstable-options --output-format json
    python3 scripts/api_count.py target/doc/vaultid.json [-v]

An item is counted once however many public paths lead to it (a re-export
is not a second item). Counted: modules, structs, enums, traits, functions,
inherent methods and associated items, trait items, constants, statics and
type aliases reachable from the crate root through public paths. Not
counted: fields, variants, trait impls. Items rustdoc hides (`#[doc(hidden)]`,
such as the `fuzzing` module) are not in the JSON and so not counted.
`-v` lists every item with its shortest public path.
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


if __name__ == "__main__":
    main()

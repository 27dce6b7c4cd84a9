#!/usr/bin/env python3
"""Write the Hydra facts the tests check into tests/fixtures/hydra/.

    scripts/hydra-fixtures.py REFERENCE_DIR

REFERENCE_DIR holds Hydra's published OpenAPI document (`api.json`) and the
JSON its handler tests save (`client-snapshots/*.json`). Two files are
written, both plain JSON this script produces:

- `openapi.json`: the operations vaultid calls or the Hydra test double
  serves (method, path template, operationId, parameters, request and
  response schemas, status codes) and the component schemas they reach,
  plus the few the tests name. Only validation keywords are kept (type,
  format, pattern, enum, nullable, required, properties, items,
  additionalProperties, allOf/anyOf/oneOf, minimum/maximum, $ref); every
  description, summary, example and tag is dropped.
- `handler-answers.json`: for each handler snapshot, its case name, the
  HTTP status (0 when the snapshot is a bare body) and the body.

The tests read only these files, so the suite runs from a bare clone. Rerun
the script when the reference is updated and review the diff.
"""

import json
import os
import sys

# The operations the tests check, by path and method: what vaultid calls,
# what the test double serves (`DELETE /admin/clients/{id}` stands for an
# administrator deleting a client), and `/version`, which the checker's own
# tests name.
OPERATIONS = {
    "/admin/clients": ["post"],
    "/admin/clients/{id}": ["get", "put", "delete"],
    "/admin/oauth2/introspect": ["post"],
    "/oauth2/token": ["post"],
    "/oauth2/revoke": ["post"],
    "/health/alive": ["get"],
    "/health/ready": ["get"],
    "/version": ["get"],
}
# Component schemas the tests name directly.
SCHEMAS = [
    "oAuth2Client",
    "errorOAuth2",
    "genericError",
    "introspectedOAuth2Token",
    "oAuth2TokenExchange",
    "healthNotReadyStatus",
]
SCHEMA_KEYWORDS = {
    "type", "format", "pattern", "enum", "nullable", "required",
    "properties", "items", "additionalProperties", "allOf", "anyOf",
    "oneOf", "minimum", "maximum", "$ref",
}


def schema(s, refs):
    """A schema with only its validation keywords; collects `$ref`s."""
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k not in SCHEMA_KEYWORDS:
            continue
        if k == "$ref":
            refs.add(v)
            out[k] = v
        elif k == "properties":
            out[k] = {name: schema(p, refs) for name, p in v.items()}
        elif k in ("items", "additionalProperties"):
            out[k] = schema(v, refs) if isinstance(v, dict) else v
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [schema(x, refs) for x in v]
        else:
            out[k] = v
    return out


def media(content, refs):
    return {ct: {"schema": schema(m.get("schema", {}), refs)} for ct, m in content.items()}


def body_object(obj, refs):
    """A requestBody or response object: required flag and content schemas."""
    if "$ref" in obj:
        refs.add(obj["$ref"])
        return {"$ref": obj["$ref"]}
    out = {}
    if "required" in obj:
        out["required"] = obj["required"]
    if "content" in obj:
        out["content"] = media(obj["content"], refs)
    return out


def operation(op, refs):
    out = {"operationId": op["operationId"]}
    params = [
        {
            "name": p["name"],
            "in": p["in"],
            "required": p.get("required", False),
            "schema": schema(p.get("schema", {}), refs),
        }
        for p in op.get("parameters", [])
    ]
    if params:
        out["parameters"] = params
    if "requestBody" in op:
        out["requestBody"] = body_object(op["requestBody"], refs)
    out["responses"] = {
        status: body_object(r, refs) for status, r in op.get("responses", {}).items()
    }
    return out


def openapi(doc):
    refs = set("#/components/schemas/" + n for n in SCHEMAS)
    paths = {}
    for p, methods in OPERATIONS.items():
        item = doc["paths"][p]
        missing = [m for m in methods if m not in item]
        if missing:
            sys.exit(f"{p}: no {', '.join(missing)} operation in api.json")
        paths[p] = {m: operation(o, refs) for m, o in item.items() if m in methods}
    components = {}
    done = set()
    while refs - done:
        ref = sorted(refs - done)[0]
        done.add(ref)
        _, _, kind, name = ref.split("/")
        src = doc["components"][kind][name]
        if kind == "schemas":
            obj = schema(src, refs)
        else:
            obj = body_object(src, refs)
        components.setdefault(kind, {})[name] = obj
    return {
        "openapi": doc["openapi"],
        "hydra_version": doc.get("info", {}).get("version", ""),
        "paths": paths,
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def answers(snap_dir):
    out = []
    for name in sorted(os.listdir(snap_dir)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(snap_dir, name)) as f:
            v = json.load(f)
        if isinstance(v, dict) and set(v) == {"status", "body"} and isinstance(v["status"], int):
            status, body = v["status"], v["body"]
        else:
            status, body = 0, v
        out.append({"case": name[: -len(".json")], "status": status, "body": body})
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/hydra-fixtures.py REFERENCE_DIR (holding api.json, client-snapshots/)")
    ref = sys.argv[1]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out_dir = os.path.join(root, "tests", "fixtures", "hydra")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(ref, "api.json")) as f:
        doc = json.load(f)
    for fname, value in [
        ("openapi.json", openapi(doc)),
        ("handler-answers.json", answers(os.path.join(ref, "client-snapshots"))),
    ]:
        with open(os.path.join(out_dir, fname), "w") as f:
            json.dump(value, f, indent=1, sort_keys=False)
            f.write("\n")
        print(f"wrote tests/fixtures/hydra/{fname}")


if __name__ == "__main__":
    main()

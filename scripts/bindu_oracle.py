#!/usr/bin/env python3
"""The Python agent framework's own signature code as a line-oriented oracle.

    python3 scripts/bindu_oracle.py PATH/TO/signature.py

Loads the framework's ``bindu/utils/did/signature.py`` (extracted from the
bindu wheel by scripts/setup.sh) with its real dependencies, ``base58`` and
``PyNaCl``, and answers one JSON request per stdin line with one JSON line
on stdout, so that a test sends hundreds of bodies through one process.
Bodies travel as base64 (``body_b64``) so that any bytes survive.

Requests (``op``):

- ``payloads``: ``items`` of {body_b64, did, timestamp} -> ``payloads``: the
  string the framework signs, ``json.dumps(create_signature_payload(...),
  sort_keys=True)``;
- ``sign``: ``seed_hex`` (the Ed25519 private key) and ``items`` ->
  ``signatures``: the framework's payload signed with PyNaCl, base58;
- ``verify``: ``items`` of {body_b64, signature, did, timestamp,
  public_key} -> ``results`` (the framework's ``verify_signature``) and
  ``reasons`` (the reason it logged);
- ``middleware``: {headers: [[name, value], ...], body_b64, client_did,
  public_key} -> {ok, reason}: the decision of the framework's Hydra
  middleware (``_verify_did_signature_asgi`` in
  bindu/server/middleware/auth/hydra.py) once the token is introspected,
  step for step, with the framework's ``extract_signature_headers`` and
  ``verify_signature``.
"""

import base64
import importlib.util
import json
import logging
import sys
import time
import types


def load(path):
    # signature.py's only import from the framework is
    # bindu.utils.logging.get_logger; this shim gives it the standard
    # library's logging.getLogger instead. It is not signature logic: the
    # payload, the escaping and the verification are the framework's file.
    for name in ("bindu", "bindu.utils", "bindu.utils.did"):
        sys.modules.setdefault(name, types.ModuleType(name))
    shim = types.ModuleType("bindu.utils.logging")
    shim.get_logger = logging.getLogger
    sys.modules["bindu.utils.logging"] = shim
    spec = importlib.util.spec_from_file_location("bindu.utils.did.signature", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Reasons(logging.Handler):
    """Keeps the reason of the last rejection verify_signature logged."""

    def __init__(self):
        super().__init__()
        self.last = None

    def emit(self, record):
        msg = record.getMessage()
        start, end = msg.find("("), msg.find(")")
        if start >= 0 and end > start:
            self.last = msg[start + 1 : end]


def main():
    sig = load(sys.argv[1])
    import base58
    from nacl.signing import SigningKey

    reasons = Reasons()
    logger = logging.getLogger("bindu.utils.did_signature")
    logger.addHandler(reasons)
    logger.propagate = False
    max_body = 2 * 1024 * 1024  # MAX_BODY_SIZE_BYTES of the middleware

    def body(item):
        return base64.b64decode(item["body_b64"])

    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "payloads":
            out = {
                "payloads": [
                    json.dumps(
                        sig.create_signature_payload(body(i), i["did"], i["timestamp"]),
                        sort_keys=True,
                    )
                    for i in req["items"]
                ]
            }
        elif op == "sign":
            key = SigningKey(bytes.fromhex(req["seed_hex"]))
            sigs = []
            for i in req["items"]:
                payload = sig.create_signature_payload(body(i), i["did"], i["timestamp"])
                text = json.dumps(payload, sort_keys=True)
                sigs.append(base58.b58encode(key.sign(text.encode("utf-8")).signature).decode())
            out = {"signatures": sigs}
        elif op == "verify":
            results, why = [], []
            for i in req["items"]:
                reasons.last = None
                ok = sig.verify_signature(
                    body=body(i),
                    signature=i["signature"],
                    did=i["did"],
                    timestamp=i["timestamp"],
                    public_key=i["public_key"],
                )
                results.append(ok)
                why.append(None if ok else reasons.last)
            out = {"results": results, "reasons": why}
        elif op == "middleware":
            # _verify_did_signature_asgi, as the middleware runs it once the
            # token's client_id is known to start with "did:". Starlette
            # hands it the headers with lower-case names.
            headers = {k.lower(): v for k, v in reversed(req["headers"])}
            client_did = req["client_did"]
            data = sig.extract_signature_headers(headers)
            if not data:
                out = {"ok": False, "reason": "missing_signature_headers"}
            elif data["did"] != client_did:
                out = {"ok": False, "reason": "did_mismatch"}
            elif not req.get("public_key"):
                out = {"ok": False, "reason": "public_key_unavailable"}
            elif int(headers.get("content-length", 0)) > max_body:
                out = {"ok": False, "reason": "payload_too_large"}
            else:
                reasons.last = None
                ok = sig.verify_signature(
                    body=body(req),
                    signature=data["signature"],
                    did=data["did"],
                    timestamp=data["timestamp"],
                    public_key=req["public_key"],
                    max_age_seconds=300,
                )
                out = {"ok": ok, "reason": None if ok else (reasons.last or "invalid_signature")}
        elif op == "now":
            out = {"now": int(time.time())}
        else:
            out = {"error": "unknown op " + op}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

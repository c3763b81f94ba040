"""The reference peer for the interop tests: Debian's python3-pylibmc, on the
same libmemcached. Reads one JSON request on stdin, writes one JSON answer.

  {"op": "place", "servers": [...], "combos": [{"behaviors": {...}, "keys": [...]}]}
      sets every key through a pylibmc client with those behaviors (value "py"),
      and answers each client's behaviors as pylibmc reads them back.
  {"op": "write", "servers": [...], "behaviors": {...}, "items": [{"key", "type", "value", "compress"}]}
      stores typed values: type bytes (value in hex), text, int (decimal string),
      bool; compress sets min_compress_len so the value is zlib-compressed.
  {"op": "read", "servers": [...], "behaviors": {...}, "keys": [...]}
      answers {key: {"type": python type name, "value": ...}} (bytes in hex,
      int as a decimal string); absent keys are left out.
  {"op": "incr", "servers": [...], "behaviors": {...}, "keys": [...], "delta": n}
      answers {key: new value}.
  {"op": "version"}
      answers {"version": pylibmc.__version__}.
"""
import binascii
import json
import sys

import pylibmc


def place(req):
    out = []
    for combo in req["combos"]:
        mc = pylibmc.Client(req["servers"], behaviors=combo["behaviors"])
        failed = []
        for k in combo["keys"]:
            if not mc.set(k, b"py"):
                failed.append(k)
        b = dict(mc.behaviors)
        out.append({"behaviors": b, "failed": failed})
        mc.disconnect_all()
    return out


def client(req):
    return pylibmc.Client(req["servers"], behaviors=req.get("behaviors") or {})


def write(req):
    mc = client(req)
    failed = []
    for it in req["items"]:
        t, v = it["type"], it["value"]
        if t == "bytes":
            v = binascii.unhexlify(v)
        elif t == "int":
            v = int(v)
        elif t == "bool":
            v = bool(v)
        kw = {"min_compress_len": it["compress"]} if it.get("compress") else {}
        if not mc.set(it["key"], v, **kw):
            failed.append(it["key"])
    return {"failed": failed}


def read(req):
    mc = client(req)
    out = {}
    for k in req["keys"]:
        v = mc.get(k)
        if v is None:
            continue
        t = type(v).__name__
        if isinstance(v, bytes):
            v = binascii.hexlify(v).decode()
        elif isinstance(v, bool):
            pass
        elif isinstance(v, int):
            v = str(v)
        out[k] = {"type": t, "value": v}
    return out


def incr(req):
    mc = client(req)
    return {k: mc.incr(k, req["delta"]) for k in req["keys"]}


def version(req):
    return {"version": pylibmc.__version__}


def main():
    req = json.load(sys.stdin)
    ops = {"place": place, "write": write, "read": read, "incr": incr, "version": version}
    json.dump(ops[req["op"]](req), sys.stdout)


if __name__ == "__main__":
    main()

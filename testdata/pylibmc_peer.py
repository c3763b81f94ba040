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
  {"op": "where", "keys": [...], "combos": [{"servers": [...], "behaviors": {...}, "at_once": bool}]}
      placement only, nothing connects: for each combo a pylibmc client with
      those servers and behaviors (with "at_once", the servers are given to
      pylibmc's C client as one libmemcached server list, which it pushes
      at once, memcached_servers_parse + memcached_server_push: one build
      of the distribution instead of one per server), and for every key the index in "servers"
      of the server libmemcached picks on that client's own memcached_st
      (pylibmc has no server_by_key: memcached_server_by_key is called
      through ctypes, on the memcached_st pointer that follows the object
      header in pylibmc's PylibMC_Client). Answers [{"where": [index, ...],
      "behaviors": {...}}, ...] (-1: a server not in the list).
"""
import binascii
import ctypes
import json
import sys

import _pylibmc
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


def libmemcached():
    """The libmemcached pylibmc's extension loaded, with the calls "where" makes."""
    lm = ctypes.CDLL("libmemcached.so.11")
    lm.memcached_server_by_key.restype = ctypes.c_void_p
    lm.memcached_server_by_key.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                           ctypes.POINTER(ctypes.c_int)]
    lm.memcached_server_name.restype = ctypes.c_char_p
    lm.memcached_server_name.argtypes = [ctypes.c_void_p]
    lm.memcached_server_port.restype = ctypes.c_uint16
    lm.memcached_server_port.argtypes = [ctypes.c_void_p]
    lm.memcached_server_count.restype = ctypes.c_uint32
    lm.memcached_server_count.argtypes = [ctypes.c_void_p]
    lm.memcached_behavior_get.restype = ctypes.c_uint64
    lm.memcached_behavior_get.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lm


def where(req):
    lm = libmemcached()
    keys = [k.encode() for k in req["keys"]]
    out = []
    for combo in req["combos"]:
        if combo.get("at_once"):
            mc = pylibmc.Client.__new__(pylibmc.Client)
            mc.addresses = list(combo["servers"])
            _pylibmc.client.__init__(mc, servers=[",".join(combo["servers"]).encode()],
                                     behaviors=pylibmc.client._behaviors_numeric(combo["behaviors"]))
        else:
            mc = pylibmc.Client(combo["servers"], behaviors=combo["behaviors"])
        ptr = ctypes.c_void_p.from_address(id(mc) + object.__basicsize__).value
        # mc.behaviors is not read: it asks the kernel for the socket buffer
        # sizes by connecting to the first server. The placement behaviors
        # are read on the memcached_st, which so proves to be the client's:
        # its servers, and pylibmc's hash and distribution.
        b = {name: lm.memcached_behavior_get(ptr, n) for name, n in PLACEMENT_BEHAVIORS.items()}
        asked = combo["behaviors"]
        if lm.memcached_server_count(ptr) != len(combo["servers"]) or "distribution" in asked and (
                b["distribution"] != pylibmc_value("distribution", asked["distribution"]) or
                b["hash"] != pylibmc_value("hash", asked.get("hash", "default"))):
            raise SystemExit("pylibmc_peer: the memcached_st pointer is not where expected")
        index = {}
        for i, spec in enumerate(mc.addresses):
            host, port = translate(spec)
            index.setdefault((host, port), i)
        rc = ctypes.c_int()
        w = []
        for k in keys:
            s = lm.memcached_server_by_key(ptr, k, len(k), ctypes.byref(rc))
            w.append(index.get((lm.memcached_server_name(s).decode(), lm.memcached_server_port(s)), -1) if s else -1)
        out.append({"where": w, "behaviors": b})
    return out


# libmemcached's numbers of the behaviors that decide placement.
PLACEMENT_BEHAVIORS = {"hash": 2, "ketama": 3, "distribution": 9, "_sort_hosts": 12, "ketama_weighted": 16, "ketama_hash": 17}


def pylibmc_value(name, v):
    """The libmemcached value of a hash or distribution given by pylibmc name."""
    table = pylibmc.hashers if name == "hash" else pylibmc.distributions
    return table[v] if isinstance(v, str) else v


def translate(spec):
    _, host, port, _ = pylibmc.client.translate_server_spec(spec)
    return host, port


def main():
    req = json.load(sys.stdin)
    ops = {"place": place, "write": write, "read": read, "incr": incr, "version": version, "where": where}
    json.dump(ops[req["op"]](req), sys.stdout)


if __name__ == "__main__":
    main()

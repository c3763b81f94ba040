"""The reference peer for the interop tests: Debian's python3-pylibmc, on the
same libmemcached. Reads one JSON request on stdin, writes one JSON answer.

  {"op": "place", "servers": [...], "combos": [{"behaviors": {...}, "keys": [...]}]}
      sets every key through a pylibmc client with those behaviors (value "py"),
      and answers each client's behaviors as pylibmc reads them back.
"""
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


def main():
    req = json.load(sys.stdin)
    ops = {"place": place}
    json.dump(ops[req["op"]](req), sys.stdout)


if __name__ == "__main__":
    main()

<?php
// The second reference peer for placement: PHP's Memcached extension
// (Debian's php-memcached), on the libmemcached of the system. Reads one JSON
// request on stdin, writes one JSON answer:
//
//   {"combos": [{"servers": [[host, port, weight], ...],
//                "options": [[libmemcached behavior id, value], ...],
//                "prefix": "ns:" or "", "keys": [...]}]}
//       for each combo: a new Memcached client, the options set in order
//       (raw libmemcached behaviors, as setOption passes them through), the
//       prefix (OPT_PREFIX_KEY), then the servers; every key is set to
//       "php". Answers [{"failed": [keys not stored]}].
//
//   {"op": "where", "keys": [...],
//    "combos": [{"servers": [[host, port, weight], ...], "options": [[id, value], ...]}]}
//       placement only, nothing connects: for each combo a new client
//       configured as above (options, then servers: one addServer call
//       each, or one addServers call for all with "at_once": true), and for
//       every key the index in "servers" of the server getServerByKey
//       names. Answers [[index, ...], ...] (-1: a server not in the list).
//
// Options go before the servers, as PHP code usually does: a hash set after
// the servers would leave libmemcached's continuum built with the old one.

// client returns a new client with the combo's options set, in order.
function client(array $combo): Memcached {
    $m = new Memcached();
    foreach ($combo["options"] as [$id, $value]) {
        if (!$m->setOption($id, $value)) {
            fwrite(STDERR, "setOption($id, $value) failed: " . $m->getResultMessage() . "\n");
            exit(1);
        }
    }
    return $m;
}

$req = json_decode(stream_get_contents(STDIN), true);
$out = [];
if (($req["op"] ?? "") === "where") {
    foreach ($req["combos"] as $combo) {
        $m = client($combo);
        $index = [];
        foreach ($combo["servers"] as $i => [$host, $port, $weight]) {
            if (!($combo["at_once"] ?? false)) {
                $m->addServer($host, $port, $weight);
            }
            $index["$host:$port"] ??= $i;
        }
        if ($combo["at_once"] ?? false) {
            $m->addServers($combo["servers"]);
        }
        $where = [];
        foreach ($req["keys"] as $k) {
            $s = $m->getServerByKey($k);
            $where[] = $s === false ? -1 : ($index[$s["host"] . ":" . $s["port"]] ?? -1);
        }
        $out[] = $where;
    }
    echo json_encode($out);
    exit(0);
}
foreach ($req["combos"] as $combo) {
    $m = client($combo);
    if ($combo["prefix"] !== "") {
        $m->setOption(Memcached::OPT_PREFIX_KEY, $combo["prefix"]);
    }
    foreach ($combo["servers"] as [$host, $port, $weight]) {
        $m->addServer($host, $port, $weight);
    }
    $failed = [];
    foreach ($combo["keys"] as $k) {
        if (!$m->set($k, "php")) {
            $failed[] = $k;
        }
    }
    $out[] = ["failed" => $failed];
    $m->quit();
}
echo json_encode($out);

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
// Options go before the servers, as PHP code usually does: a hash set after
// the servers would leave libmemcached's continuum built with the old one.
$req = json_decode(stream_get_contents(STDIN), true);
$out = [];
foreach ($req["combos"] as $combo) {
    $m = new Memcached();
    foreach ($combo["options"] as [$id, $value]) {
        if (!$m->setOption($id, $value)) {
            fwrite(STDERR, "setOption($id, $value) failed: " . $m->getResultMessage() . "\n");
            exit(1);
        }
    }
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

#!/usr/bin/env bash
# cwarn.sh: compile every C file of the package as cgo does (the compiler
# and CGO_CFLAGS of `go env`, pkg-config --cflags libmemcached), with
# -Wall -Wextra as errors, and with every function either static or declared
# in a header (-Wmissing-prototypes). With LIBMEMCACHED_1018_SRC set to a
# libmemcached 1.0.18 source tree (its headers need no build: their two
# configure.h are written from configure.h.in here), the files are compiled
# against 1.0.18's headers too, which take the GOLIBMC_LM10 branches.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
cc=$("$GO" env CC)
read -r -a cflags <<<"$("$GO" env CGO_CFLAGS)"
warn=(-Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes -Werror)
files=(*.c)

check() { # check LABEL CFLAGS...
  local label=$1
  shift
  for f in "${files[@]}"; do
    "$cc" "${cflags[@]}" "$@" "${warn[@]}" -I. -c "$f" -o /dev/null
  done
  echo "cwarn: ${#files[@]} C files clean against $label"
}

read -r -a pc <<<"$(pkg-config --cflags libmemcached)"
check "libmemcached $(pkg-config --modversion libmemcached)" ${pc[@]+"${pc[@]}"}

if [ -n "${LIBMEMCACHED_1018_SRC:-}" ]; then
  src=$LIBMEMCACHED_1018_SRC
  inc=$(mktemp -d)
  trap 'rm -rf "$inc"' EXIT
  cp -r "$src/libmemcached-1.0" "$src/libhashkit-1.0" "$inc/"
  mkdir "$inc/libmemcached"
  cp "$src/libmemcached/memcached.h" "$inc/libmemcached/"
  sed -e 's/@DEPRECATED@//' -e 's/@LIBMEMCACHED_WITH_SASL_SUPPORT@/#define LIBMEMCACHED_WITH_SASL_SUPPORT 1/' \
    -e 's/@LIBMEMCACHED_VERSION_STRING@/1.0.18/' -e 's/@LIBMEMCACHED_VERSION_HEX@/0x01000018/' \
    "$src/libmemcached-1.0/configure.h.in" >"$inc/libmemcached-1.0/configure.h"
  sed -e 's/@LIBHASHKIT_VERSION_STRING@/1.0.0/' -e 's/@LIBHASHKIT_VERSION_HEX@/0x01000000/' \
    "$src/libhashkit-1.0/configure.h.in" >"$inc/libhashkit-1.0/configure.h"
  check "libmemcached 1.0.18 ($src)" -I"$inc"
fi

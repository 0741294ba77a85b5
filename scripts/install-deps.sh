#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages durable needs, only those missing: one `apt-get update`,
# then a non-interactive `apt-get install`, through sudo only when not already root.
#
#   scripts/install-deps.sh demo   # what scripts/demo.sh needs: compiler, CMake, libraries (libpq
#                                  # for `demo --postgres <conninfo>`)
#   scripts/install-deps.sh test   # plus clang, sanitizer runtimes, clang-format and -tidy, doctest,
#                                  # Google Benchmark, nlohmann/json (json_codec's tests and
#                                  # benchmark), libpq and a PostgreSQL 15 server (the tests
#                                  # start a throwaway one): what scripts/test.sh needs
#   scripts/install-deps.sh bench  # what scripts/bench.sh needs: the demo set, Google Benchmark,
#                                  # nlohmann/json, gnuplot (plots), python3-persist-queue (the
#                                  # comparison)
set -euo pipefail

# The durable tool: libcli11-dev (arguments), nlohmann-json3-dev (--json), libhowardhinnant-date-dev
# (ISO 8601 parsing). libpq-dev: the PostgreSQL backend.
demo_packages=(cmake ninja-build g++ libsqlite3-dev libboost1.81-dev libfmt-dev libpq-dev
               libcli11-dev nlohmann-json3-dev libhowardhinnant-date-dev)
# libclang-rt-14-dev holds the sanitizer runtimes; clang only recommends it.
test_packages=("${demo_packages[@]}" clang libclang-rt-14-dev clang-format clang-tidy doctest-dev
               libbenchmark-dev libpq-dev postgresql-15)
bench_packages=("${demo_packages[@]}" libbenchmark-dev gnuplot-nox python3 python3-persist-queue
                sqlite3)

case "${1:-}" in
  demo) packages=("${demo_packages[@]}") ;;
  test) packages=("${test_packages[@]}") ;;
  bench) packages=("${bench_packages[@]}") ;;
  *) echo "usage: $0 demo|test|bench" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: not a Debian system; install the equivalents of: ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

as_root=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  as_root=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs durable's demo on Debian 12: installs the missing packages, builds the
# `demo` preset (Release, examples only) into build/demo, runs build/demo/examples/demo.
# Arguments are passed on to the demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh demo
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
cmake --workflow --preset demo
demo=build/demo/examples/demo
if [[ ! -x $demo ]]; then
  echo "demo.sh: $demo was not built; examples/CMakeLists.txt must add the example 'demo'" >&2
  exit 1
fi
echo "demo.sh: running $demo"
exec "$demo" "$@"

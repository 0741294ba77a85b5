#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# durable's whole CI, the same on a laptop and in CI (.ci/run calls this script):
#
#   scripts/test.sh                   every step, in the order below
#   scripts/test.sh gcc format        only the steps named
#
# Steps; each is a workflow preset in CMakePresets.json (configure, build, test):
#   gcc         g++ Debug, warnings as errors; every header compiled on its own
#               (all_verify_interface_header_sets); examples and benchmarks compiled; all
#               tests: doctest, compile-fail, packaging (install + find_package, FetchContent,
#               a project's own fmt), user_warnings (the examples as a user compiles them:
#               g++ and clang++ -O2 -Wall -Wextra -Werror, durable's headers as -I)
#   gcc-release g++ Release (CMake's -O3 -DNDEBUG, what a plain Release build uses), warnings
#               as errors: g++'s flow-based warnings (-Wrestrict, -Wstringop-*, -Warray-bounds,
#               -Wmaybe-uninitialized) only speak with optimisation. Tests and examples; all
#               tests but compile-fail (static_asserts, the same at any -O), packaging and
#               user_warnings (their own builds, whatever this one's) and the multi-process
#               contention test (the gcc step runs it)
#   clang-asan  clang++, warnings as errors, AddressSanitizer + UndefinedBehaviorSanitizer,
#               all tests but compile-fail, packaging and user_warnings
#   clang-tsan  clang++, warnings as errors, ThreadSanitizer, all tests but compile-fail,
#               packaging, user_warnings and contention (processes, not threads)
#   format      clang-format --dry-run --Werror over include/ tests/ examples/ bench/ tools/
#   tidy        clang-tidy (.clang-tidy, warnings as errors) over every public header, through
#               tests/tidy_headers.cpp, which includes them all and instantiates the templates
#
# Opt-in steps, never run by default (name them):
#   soak        the crash tests and the power-loss tests for long: 2,000 SIGKILLs each for
#               tests/test_crash.cpp and tests/test_crash_harness.cpp, 1,000 power cuts per
#               durability mode (DURABLE_SOAK_KILLS, DURABLE_SOAK_POWER_CUTS), on the gcc build
#   fuzz        libFuzzer (clang, ASan + UBSan; preset "fuzz") on each target in tests/fuzz/
#               for DURABLE_FUZZ_SECONDS (default 180) each, starting from the committed seed
#               corpus; prints executions and crashes per target (crash inputs: build/fuzz/*)
#
# Installs the Debian packages it needs first (scripts/install-deps.sh test). Runs every
# requested step even after one fails, prints a summary, exits 1 if any step failed.
#
# PostgreSQL: the gcc and sanitizer steps run the backend conformance suite on PostgreSQL
# too ("postgres/<case>" entries), against a throwaway PostgreSQL 15 server this script
# starts (scripts/postgres.sh: initdb into a temp directory, a unix socket there, no TCP)
# and stops and removes when it exits, also on failure or interrupt. It exports
# DURABLE_TEST_POSTGRES (the connection string), DURABLE_TEST_PG_CTL and DURABLE_TEST_PGDATA
# (for the server-restart test). Set DURABLE_TEST_POSTGRES=<conninfo> to use an existing
# server instead (the restart test then fails unless the other two are set as well). A
# server that cannot be started fails the run: the PostgreSQL tests are never skipped.
#
# Sanitizers and address-space randomization: clang 14's sanitizer runtimes assume the
# memory layout of kernels with vm.mmap_rnd_bits <= 28. With more entropy (recent kernels
# allow 32) ThreadSanitizer dies with "FATAL: ThreadSanitizer: unexpected memory mapping"
# and AddressSanitizer can loop printing "AddressSanitizer:DEADLYSIGNAL". So before each
# sanitizer step a tiny program built with that sanitizer is run; if it fails, and passes
# under `setarch "$(uname -m)" -R` (ASLR off for that process tree only, no kernel setting
# changed), the whole step (build, where doctest lists test cases by running the test
# executables, and test) runs under setarch. DURABLE_SETARCH=always|never overrides the probe.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

all_steps=(gcc gcc-release clang-asan clang-tsan format tidy)
opt_in_steps=(soak fuzz)

usage() {
  echo "usage: $0 [step...]    steps: ${all_steps[*]} (default: all); opt-in: ${opt_in_steps[*]}"
}

steps=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    gcc | gcc-release | clang-asan | clang-tsan | format | tidy | soak | fuzz) steps+=("$arg") ;;
    *) usage >&2; exit 2 ;;
  esac
done
((${#steps[@]} > 0)) || steps=("${all_steps[@]}")

scripts/install-deps.sh test || { echo "test.sh: could not install dependencies" >&2; exit 1; }
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

# The throwaway PostgreSQL server, when a step runs the tests and none was given.
pg_dir=""
stop_postgres() {
  if [[ -n $pg_dir ]]; then
    scripts/postgres.sh stop "$pg_dir"
    pg_dir=""
  fi
}
needs_server=0
for step in "${steps[@]}"; do
  case "$step" in gcc | clang-asan | clang-tsan) needs_server=1 ;; esac
done
if ((needs_server)) && [[ -z ${DURABLE_TEST_POSTGRES:-} ]]; then
  trap stop_postgres EXIT
  trap 'exit 130' INT TERM
  pg_dir=$(mktemp -d /tmp/durable-pg.XXXXXX)
  if ! scripts/postgres.sh start "$pg_dir" tests; then
    echo "test.sh: could not start the PostgreSQL test server" >&2
    exit 1
  fi
  # shellcheck disable=SC1091  # written by scripts/postgres.sh
  source "$pg_dir/env"
fi

# Prints the command prefix a sanitizer step needs ("" or setarch ...), or fails.
sanitizer_launcher() {
  local sanitizers=$1 probe_dir="build/sanitizer-probe/$1"
  local setarch=(setarch "$(uname -m)" -R)
  case "${DURABLE_SETARCH:-auto}" in
    always) echo "${setarch[*]}"; return 0 ;;
    never) return 0 ;;
  esac
  mkdir -p "$probe_dir"
  cat >"$probe_dir/probe.cpp" <<'CPP'
#include <thread>
int main() {
  int value = 0;
  std::thread thread([&value] { value = 1; });
  thread.join();
  return value == 1 ? 0 : 1;
}
CPP
  if ! clang++ -std=c++20 -g -fsanitize="$sanitizers" -pthread "$probe_dir/probe.cpp" \
      -o "$probe_dir/probe" >"$probe_dir/compile.log" 2>&1; then
    echo "test.sh: cannot build with -fsanitize=$sanitizers:" >&2
    cat "$probe_dir/compile.log" >&2
    return 1
  fi
  if timeout 60 "$probe_dir/probe" >"$probe_dir/run.log" 2>&1; then
    return 0
  fi
  if timeout 60 "${setarch[@]}" "$probe_dir/probe" >>"$probe_dir/run.log" 2>&1; then
    echo "test.sh: -fsanitize=$sanitizers needs ASLR off here" \
      "(vm.mmap_rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo '?'));" \
      "running the step under: ${setarch[*]}" >&2
    echo "${setarch[*]}"
    return 0
  fi
  echo "test.sh: a program built with -fsanitize=$sanitizers fails here, even under" \
    "${setarch[*]}:" >&2
  cat "$probe_dir/run.log" >&2
  return 1
}

# Each workflow's output is also kept in build/<preset>.log, for the CTest tally below.
run_workflow() {
  local preset=$1
  mkdir -p build
  cmake --workflow --preset "$preset" 2>&1 | tee "build/$preset.log"
}

run_sanitizer_workflow() {
  local preset=$1 sanitizers=$2 launcher
  launcher=$(sanitizer_launcher "$sanitizers") || return 1
  mkdir -p build
  # shellcheck disable=SC2086  # launcher is empty or a few plain words
  $launcher cmake --workflow --preset "$preset" 2>&1 | tee "build/$preset.log"
}

# Adds up CTest's "N% tests passed, F tests failed out of T" lines of the steps that ran.
tally_ctest() {
  local passed=0 failed_tests=0 step line f t
  for step in "${steps[@]}"; do
    [[ -f build/$step.log ]] || continue
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "build/$step.log" | tail -n1)
    [[ -n $line ]] || continue
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + t - f))
    failed_tests=$((failed_tests + f))
  done
  echo "ctest: $passed passed, $failed_tests failed"
}

format_files() {
  local dirs=(include tests examples bench test_package tools)
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -- "${dirs[@]}"
  else
    find "${dirs[@]}" -path '*/build' -prune -o -type f -print 2>/dev/null
  fi | grep -E '\.(hpp|cpp|h)$' | while read -r file; do
    [[ -f $file ]] && echo "$file"
  done
}

run_format() {
  local clang_format files
  clang_format=$(command -v clang-format-14 || command -v clang-format) || {
    echo "test.sh: clang-format not found" >&2
    return 1
  }
  mapfile -t files < <(format_files)
  echo "$("$clang_format" --version | head -n1): checking ${#files[@]} files"
  ((${#files[@]} > 0)) || return 0
  "$clang_format" --dry-run --Werror "${files[@]}"
}

run_tidy() {
  local clang_tidy
  clang_tidy=$(command -v clang-tidy-14 || command -v clang-tidy) || {
    echo "test.sh: clang-tidy not found" >&2
    return 1
  }
  "$clang_tidy" --version | head -n2 | tail -n1
  "$clang_tidy" --quiet --config-file=.clang-tidy tests/tidy_headers.cpp -- -std=c++20 \
    -I"$PWD/include" -isystem "$(pg_config --includedir)"
}

# Long crash and power-loss runs on the gcc build (configured by the gcc step's preset).
run_soak() {
  local kills=${DURABLE_SOAK_KILLS:-2000} cuts=${DURABLE_SOAK_POWER_CUTS:-1000} failed=0 test
  cmake --preset gcc >/dev/null || return 1
  cmake --build build/gcc --target test_crash test_crash_harness test_power_loss || return 1
  for test in test_crash test_crash_harness; do
    echo "---- $test: $kills kills"
    DURABLE_CRASH_KILLS=$kills "build/gcc/tests/$test" || failed=1
  done
  echo "---- test_power_loss: $cuts power cuts per durability mode"
  DURABLE_POWER_CUTS=$cuts build/gcc/tests/test_power_loss || failed=1
  return "$failed"
}

# Each libFuzzer target for DURABLE_FUZZ_SECONDS; a summary line per target and in all.
run_fuzz() {
  local seconds=${DURABLE_FUZZ_SECONDS:-180} launcher target log runs total=0 crashes=0 rc
  launcher=$(sanitizer_launcher address,undefined) || return 1
  # shellcheck disable=SC2086  # launcher is empty or a few plain words
  $launcher cmake --preset fuzz >/dev/null || return 1
  # shellcheck disable=SC2086
  $launcher cmake --build --preset fuzz || return 1
  local summary=()
  for target in pfr_decode bytes_codec history; do
    mkdir -p "build/fuzz/corpus/$target" "build/fuzz/artifacts/$target"
    log="build/fuzz/$target.log"
    echo "---- fuzz_$target for ${seconds}s"
    # shellcheck disable=SC2086
    $launcher "build/fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" \
      -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$target/" \
      "build/fuzz/corpus/$target" "tests/fuzz/corpus/$target" >"$log" 2>&1
    rc=$?
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n1)
    runs=${runs:-0}
    total=$((total + runs))
    if ((rc != 0)); then
      crashes=$((crashes + 1))
      tail -n 30 "$log"
    fi
    summary+=("$(printf '  fuzz_%-12s %12d executions in %ds, %s' "$target" "$runs" "$seconds" \
      "$( ((rc == 0)) && echo "0 crashes" || echo "CRASH (exit $rc, see $log)")")")
  done
  printf '%s\n' "${summary[@]}"
  echo "  fuzz total: $total executions, $crashes targets crashed"
  ((crashes == 0))
}

run_step() {
  case "$1" in
    gcc) run_workflow gcc ;;
    gcc-release) run_workflow gcc-release ;;
    clang-asan) run_sanitizer_workflow clang-asan address,undefined ;;
    clang-tsan) run_sanitizer_workflow clang-tsan thread ;;
    format) run_format ;;
    tidy) run_tidy ;;
    soak) run_soak ;;
    fuzz) run_fuzz ;;
  esac
}

for step in "${steps[@]}"; do rm -f "build/$step.log"; done
results=()
failed=0
total_start=$SECONDS
for i in "${!steps[@]}"; do
  step=${steps[$i]}
  echo
  echo "==== test.sh [$((i + 1))/${#steps[@]}] $step"
  start=$SECONDS
  if run_step "$step"; then status=PASS; else status=FAIL; failed=1; fi
  elapsed=$((SECONDS - start))
  results+=("$(printf '  %-11s %s %4dm%02ds' "$step" "$status" $((elapsed / 60)) $((elapsed % 60)))")
  echo "==== test.sh $step: $status in ${elapsed}s"
done

total=$((SECONDS - total_start))
echo
echo "==== test.sh summary"
printf '%s\n' "${results[@]}"
printf '  %-11s %s %4dm%02ds\n' total "$( ((failed)) && echo FAIL || echo PASS)" \
  $((total / 60)) $((total % 60))
tally_ctest
exit "$failed"

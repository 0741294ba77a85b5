# SPDX-License-Identifier: MIT
# Warnings, warnings-as-errors (DURABLE_WERROR) and sanitizers for durable's *own* targets
# (tests, examples, benchmarks). Nothing here touches the durable::durable interface target,
# so none of it reaches a consumer's build.

set(DURABLE_SANITIZERS "" CACHE STRING
    "Sanitizers for durable's own targets, e.g. 'address,undefined' or 'thread'")

# Warnings are errors only when asked (the presets and CI ask): a compiler version, standard
# library or optimisation level durable's CI does not run must not break the build of someone
# who just builds the checkout. Set in this directory's scope, so it covers every target of
# durable's own directories (tests, compile-fail cases, examples, benchmarks) and the one CMake
# generates at generate time, durable_verify_interface_header_sets, which takes the value this
# variable has at the end of durable's top directory. A directory variable does not reach the
# project that adds durable as a subdirectory.
if(DURABLE_WERROR)
  set(CMAKE_COMPILE_WARNING_AS_ERROR ON)
endif()

function(durable_target_defaults target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
      -Wold-style-cast -Wnon-virtual-dtor -Woverloaded-virtual)
  endif()
  if(DURABLE_SANITIZERS)
    target_compile_options(${target} PRIVATE
      -fsanitize=${DURABLE_SANITIZERS} -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${DURABLE_SANITIZERS})
  endif()
endfunction()

# SPDX-License-Identifier: MIT
# Warnings-as-errors and sanitizers for durable's *own* targets (tests, examples,
# benchmarks). Nothing here touches the durable::durable interface target, so none
# of it reaches a consumer's build.

set(DURABLE_SANITIZERS "" CACHE STRING
    "Sanitizers for durable's own targets, e.g. 'address,undefined' or 'thread'")

function(durable_target_defaults target)
  set_target_properties(${target} PROPERTIES COMPILE_WARNING_AS_ERROR ON)
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

# SPDX-License-Identifier: MIT
# cmake -DSOURCE_DIR=<durable checkout> -DPROJECT_DIR=<consumer project> -DBINARY_DIR=<dir>
#       -DCOMPILER=<c++ compiler> -DGENERATOR=<generator> [-DMAKE_PROGRAM=<tool>] -P check.cmake
# Configures (fresh) and builds the consumer project with COMPILER: every example with
# -O2 -Wall -Wextra -Werror and durable's include directory as -I. Fails on any warning, and
# if the compile commands do not show durable's headers the way a user's compiler sees them.

file(REMOVE_RECURSE "${BINARY_DIR}")
set(configure_args)
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
          ${configure_args}
          "-DCMAKE_CXX_COMPILER=${COMPILER}"
          -DCMAKE_BUILD_TYPE=  # no configuration flags: the project sets -O2 itself
          -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
          "-DDURABLE_SOURCE_DIR=${SOURCE_DIR}"
  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "configuring ${PROJECT_DIR} with ${COMPILER} failed:\n${output}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BINARY_DIR}"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  message(FATAL_ERROR
    "durable's examples do not compile cleanly for a user of ${COMPILER} with "
    "-O2 -Wall -Wextra -Werror (durable's headers as -I):\n${output}")
endif()

file(READ "${BINARY_DIR}/compile_commands.json" commands)
file(GLOB examples "${SOURCE_DIR}/examples/*.cpp")
set(errors)
foreach(example IN LISTS examples)
  string(FIND "${commands}" "${example}" at)
  if(at EQUAL -1)
    list(APPEND errors "${example} was not compiled")
  endif()
endforeach()
foreach(flag "-I${SOURCE_DIR}/include" -O2 -Wall -Wextra -Werror)
  string(FIND "${commands}" "${flag} " at)
  if(at EQUAL -1)
    list(APPEND errors "no compile command has ${flag}")
  endif()
endforeach()
string(FIND "${commands}" "-isystem ${SOURCE_DIR}/include" at)
if(NOT at EQUAL -1)
  list(APPEND errors "durable's include directory was passed with -isystem: warnings hidden")
endif()
if(errors)
  list(JOIN errors "\n  " message)
  message(FATAL_ERROR "user_warnings with ${COMPILER}:\n  ${message}")
endif()
list(LENGTH examples count)
message(STATUS "${count} examples compile without a warning: ${COMPILER} -O2 -Wall -Wextra -Werror")

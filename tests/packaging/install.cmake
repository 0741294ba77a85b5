# SPDX-License-Identifier: MIT
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DPREFIX=... -DCONFIG=... -DPOSTGRES=ON|OFF -DTOOL=ON|OFF
#   -P install.cmake
# Installs durable's build tree into a fresh PREFIX and checks what landed there: every
# public header, the four package files, bin/durable when the tool is built (TOOL), nothing
# else, and no path into the source tree.

file(REMOVE_RECURSE "${PREFIX}")
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                        ${config_args}
                RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${result}")
endif()

set(errors)
file(GLOB_RECURSE headers RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/durable/*.hpp")
if(NOT POSTGRES)  # the PostgreSQL component's headers are installed with it only
  list(FILTER headers EXCLUDE REGEX "^durable/(postgres\\.hpp|detail/postgres/)")
endif()
foreach(file IN LISTS headers)
  if(NOT EXISTS "${PREFIX}/include/${file}")
    list(APPEND errors "header not installed: include/${file}")
  endif()
endforeach()
set(package_files durableConfig.cmake durableConfigVersion.cmake durableDependencies.cmake
                  durableTargets.cmake)
if(POSTGRES)
  list(APPEND package_files durablePostgresTargets.cmake)
endif()
foreach(file IN LISTS package_files)
  if(NOT EXISTS "${PREFIX}/share/durable/${file}")
    list(APPEND errors "package file not installed: share/durable/${file}")
  endif()
endforeach()
if(TOOL AND NOT EXISTS "${PREFIX}/bin/durable")
  list(APPEND errors "the durable tool was not installed: bin/durable")
endif()
file(GLOB_RECURSE installed RELATIVE "${PREFIX}" "${PREFIX}/*")
foreach(file IN LISTS installed)
  if(TOOL AND file STREQUAL "bin/durable")
    continue()
  endif()
  if(NOT file MATCHES "^(include/durable/.*\\.hpp|share/durable/durable[A-Za-z-]*\\.cmake)$")
    list(APPEND errors "unexpected file installed: ${file}")
  endif()
endforeach()
file(GLOB package_files "${PREFIX}/share/durable/*.cmake")
foreach(file IN LISTS package_files)
  file(READ "${file}" text)
  string(FIND "${text}" "${SOURCE_DIR}" source_path_at)
  string(FIND "${text}" "${BUILD_DIR}" build_path_at)
  if(NOT source_path_at EQUAL -1 OR NOT build_path_at EQUAL -1)
    list(APPEND errors "${file} names the source or build tree: not relocatable")
  endif()
endforeach()

if(errors)
  list(JOIN errors "\n  " message)
  message(FATAL_ERROR "install layout:\n  ${message}")
endif()
list(LENGTH installed count)
message(STATUS "installed ${count} files into ${PREFIX}")

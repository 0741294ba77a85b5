# SPDX-License-Identifier: MIT
# cmake -DSOURCE_DIR=<checkout> -P version.cmake
# The version is written once, in include/durable/version.hpp. CMakeLists.txt and conanfile.py
# read it there; the files that must hold a literal are checked against it here: vcpkg.json,
# the overlay port's vcpkg.json, and the versions the README tells users to ask for.

file(STRINGS "${SOURCE_DIR}/include/durable/version.hpp" defines
     REGEX "^#define DURABLE_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+$")
set(parts)
foreach(part IN ITEMS MAJOR MINOR PATCH)
  if(NOT defines MATCHES "#define DURABLE_VERSION_${part} +([0-9]+)")
    message(FATAL_ERROR "include/durable/version.hpp has no '#define DURABLE_VERSION_${part} <n>'")
  endif()
  list(APPEND parts ${CMAKE_MATCH_1})
endforeach()
list(JOIN parts . version)
list(GET parts 0 major)
list(GET parts 1 minor)
set(errors)

foreach(manifest vcpkg.json ports/durable/vcpkg.json)
  file(READ "${SOURCE_DIR}/${manifest}" json)
  string(JSON found ERROR_VARIABLE json_error GET "${json}" version)
  if(json_error)
    list(APPEND errors "${manifest}: no \"version\" (${json_error})")
  elseif(NOT found STREQUAL version)
    list(APPEND errors "${manifest} says \"version\": \"${found}\", version.hpp says ${version}")
  endif()
endforeach()

file(READ "${SOURCE_DIR}/conanfile.py" conanfile)
if(NOT conanfile MATCHES "def set_version\\(self\\)" OR conanfile MATCHES "\n +version *= *\"")
  list(APPEND errors "conanfile.py must take its version from version.hpp in set_version()")
endif()

# The README's snippets: find_package(durable X.Y), FIND_PACKAGE_ARGS X.Y (the package version
# file accepts the same minor version while the major is 0) and Conan's durable/X.Y.Z.
file(READ "${SOURCE_DIR}/README.md" readme)
string(REGEX MATCHALL "find_package\\(durable [0-9.]+|FIND_PACKAGE_ARGS [0-9.]+" requests
       "${readme}")
if(NOT requests)
  list(APPEND errors "README.md asks for no durable version (find_package, FIND_PACKAGE_ARGS)")
endif()
foreach(request IN LISTS requests)
  string(REGEX MATCH "[0-9.]+$" requested "${request}")
  if(NOT requested STREQUAL "${major}.${minor}")
    list(APPEND errors "README.md: '${request}', but the version is ${version}")
  endif()
endforeach()
string(REGEX MATCHALL "durable/[0-9]+\\.[0-9]+\\.[0-9]+" references "${readme}")
foreach(reference IN LISTS references)
  if(NOT reference STREQUAL "durable/${version}")
    list(APPEND errors "README.md: '${reference}', but the version is ${version}")
  endif()
endforeach()

if(errors)
  list(JOIN errors "\n  " message)
  message(FATAL_ERROR "version ${version} (include/durable/version.hpp):\n  ${message}")
endif()
message(STATUS "version ${version}: vcpkg.json, ports/durable/vcpkg.json and README.md agree")

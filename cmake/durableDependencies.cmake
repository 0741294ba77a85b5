# SPDX-License-Identifier: MIT
# durable_check_dependencies(<problems-var> <found-var>)
#
# Checks the three targets durable::durable links, whoever made them: find_package in
# durable's CMakeLists.txt or in the installed durableConfig.cmake, or the enclosing project
# (FetchContent, add_subdirectory, its own find_package). Sets <problems-var> to a message
# naming every problem, with the version found and the Debian 12 package to install, or to ""
# when there is none, and <found-var> to what was found ("SQLite 3.40.1, Boost 1.81.0, ...").
# Used by CMakeLists.txt and, installed next to it, by durableConfig.cmake.
#
#   SQLite::SQLite3  SQLite >= 3.35 (header and library), built with its JSON functions
#   Boost::headers   Boost >= 1.75, which brings Boost.PFR
#   fmt::fmt         fmt >= 9
#
# Versions are read from each target's headers, so a target the project built itself is
# checked like a found one. The JSON check builds and runs a small program against
# SQLite::SQLite3 (once; the result is cached); it is skipped when cross-compiling or when
# SQLite::SQLite3 is not an imported target (try_run cannot link a target of this project).

# _durable_find_header(<target> <header> <out-var>): the path of <header> in the include
# directories <target> brings (its own and those of the targets it links, recursively), or
# in the compiler's implicit ones; "" if it is in none.
function(_durable_find_header target header out)
  set(queue ${target})
  set(seen)
  set(dirs)
  while(queue)
    list(POP_FRONT queue current)
    if(NOT TARGET "${current}" OR current IN_LIST seen)
      continue()
    endif()
    list(APPEND seen "${current}")
    get_target_property(aliased "${current}" ALIASED_TARGET)
    if(aliased)
      list(APPEND queue "${aliased}")
      continue()
    endif()
    get_target_property(includes "${current}" INTERFACE_INCLUDE_DIRECTORIES)
    if(includes)
      # A target built by the project has $<BUILD_INTERFACE:dir> and $<INSTALL_INTERFACE:dir>;
      # the build one is what compiles here. Other generator expressions are skipped below.
      string(REGEX REPLACE "\\$<INSTALL_INTERFACE:[^>]*>" "" includes "${includes}")
      string(REGEX REPLACE "\\$<BUILD_INTERFACE:([^>]*)>" "\\1" includes "${includes}")
      list(APPEND dirs ${includes})
    endif()
    get_target_property(links "${current}" INTERFACE_LINK_LIBRARIES)
    if(links)
      list(APPEND queue ${links})
    endif()
  endwhile()
  foreach(dir IN LISTS dirs CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    if(NOT dir MATCHES "\\$<" AND EXISTS "${dir}/${header}")
      set(${out} "${dir}/${header}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

# _durable_define(<header path> <macro> <out-var>): the number <macro> is #defined to.
function(_durable_define path macro out)
  file(STRINGS "${path}" line REGEX "^#[ \t]*define[ \t]+${macro}[ \t]+[0-9]+" LIMIT_COUNT 1)
  string(REGEX MATCH "[0-9]+$" value "${line}")
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

# _durable_check_sqlite_json(<key> <problem-var> <checked-var>): builds and runs a program
# against SQLite::SQLite3 that calls a JSON function; sets <problem-var> to a problem or "",
# and <checked-var> to whether the check ran. A success is cached under <key> (the header,
# version and library checked).
function(_durable_check_sqlite_json key out checked)
  set(${out} "" PARENT_SCOPE)
  set(${checked} FALSE PARENT_SCOPE)
  set(target SQLite::SQLite3)
  get_target_property(aliased ${target} ALIASED_TARGET)
  if(aliased)
    set(target ${aliased})
  endif()
  get_target_property(imported ${target} IMPORTED)
  if(NOT imported OR CMAKE_CROSSCOMPILING)
    return()
  endif()
  if("$CACHE{_DURABLE_SQLITE_JSON_OK}" STREQUAL key)
    set(${checked} TRUE PARENT_SCOPE)
    return()
  endif()
  try_run(run_result compile_result
    SOURCE_FROM_CONTENT durable_sqlite_json.cpp [=[
#include <sqlite3.h>

#include <cstdio>

int main() {
  std::printf("SQLite library %s\n", sqlite3_libversion());
  if (sqlite3_libversion_number() < 3035000) return 2;
  sqlite3* db = nullptr;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 3;
  char* error = nullptr;
  const char* sql = "SELECT json_extract('{\"a\": 1}', '$.a')";
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) std::printf("%s\n", error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : 1;
}
]=]
    LINK_LIBRARIES ${target}
    NO_CACHE
    COMPILE_OUTPUT_VARIABLE compile_output
    RUN_OUTPUT_VARIABLE run_output)
  string(STRIP "${run_output}" run_output)
  string(REPLACE ";" "," run_output "${run_output}")
  string(REPLACE "\n" " - " run_output "${run_output}")
  if(NOT compile_result)
    # Not a verdict on SQLite: this toolchain may not build executables at configure time.
    message(WARNING "durable: could not build a program against SQLite::SQLite3 to check its "
                    "JSON functions; not checked.\n${compile_output}")
    return()
  endif()
  set(${checked} TRUE PARENT_SCOPE)
  if(run_result EQUAL 0)
    set(_DURABLE_SQLITE_JSON_OK "${key}" CACHE INTERNAL "SQLite checked by durable: JSON works")
  elseif(run_result EQUAL 1)
    string(CONCAT problem "SQLite::SQLite3 is built without its JSON functions (SQLITE_OMIT_JSON, "
                          "or before 3.38 without SQLITE_ENABLE_JSON1): ${run_output}.")
    set(${out} "${problem}" PARENT_SCOPE)
  elseif(run_result EQUAL 2)
    string(CONCAT problem "SQLite >= 3.35 is needed: the library SQLite::SQLite3 links is older "
                          "than its header: ${run_output}.")
    set(${out} "${problem}" PARENT_SCOPE)
  else()
    set(${out} "a program linked with SQLite::SQLite3 failed (${run_result}): ${run_output}."
        PARENT_SCOPE)
  endif()
endfunction()

function(durable_check_dependencies out found_out)
  set(problems)
  set(found)

  # SQLite
  set(sqlite_hint "On Debian 12: apt install libsqlite3-dev (SQLite 3.40, JSON built in).")
  if(NOT TARGET SQLite::SQLite3)
    set(what "not found")
    if(DEFINED SQLite3_INCLUDE_DIR OR DEFINED SQLite3_LIBRARY)  # what FindSQLite3 saw
      set(what "not found (sqlite3.h: ${SQLite3_INCLUDE_DIR}, library: ${SQLite3_LIBRARY})")
    endif()
    list(APPEND problems "SQLite >= 3.35 (target SQLite::SQLite3): ${what}. ${sqlite_hint}")
  else()
    _durable_find_header(SQLite::SQLite3 sqlite3.h header)
    set(number)
    if(header)
      _durable_define("${header}" SQLITE_VERSION_NUMBER number)
    endif()
    if(number)
      math(EXPR major "${number} / 1000000")
      math(EXPR minor "${number} / 1000 % 1000")
      math(EXPR patch "${number} % 1000")
      set(version "${major}.${minor}.${patch}")
      if(version VERSION_LESS 3.35)
        string(CONCAT problem "SQLite >= 3.35 is needed: SQLite::SQLite3 is SQLite ${version} "
                              "(${header}). ${sqlite_hint}")
        list(APPEND problems "${problem}")
      else()
        get_target_property(library SQLite::SQLite3 IMPORTED_LOCATION)
        _durable_check_sqlite_json("${header};${version};${library}" json_problem json_checked)
        if(json_problem)
          list(APPEND problems "${json_problem} ${sqlite_hint}")
        elseif(json_checked)
          list(APPEND found "SQLite ${version} with JSON")
        else()
          list(APPEND found "SQLite ${version} (JSON functions not checked)")
        endif()
      endif()
    else()
      list(APPEND found "SQLite (version not checked: no sqlite3.h found)")
    endif()
  endif()

  # Boost
  string(CONCAT boost_hint "On Debian 12: apt install libboost1.81-dev "
                           "(libboost-dev is Boost 1.74, without Boost.PFR).")
  if(NOT TARGET Boost::headers)
    set(what "not found")
    if(Boost_CONSIDERED_VERSIONS)
      set(versions ${Boost_CONSIDERED_VERSIONS})
      list(REMOVE_DUPLICATES versions)
      list(JOIN versions ", " versions)
      set(what "found only Boost ${versions}")
    endif()
    list(APPEND problems
         "Boost >= 1.75 with Boost.PFR (target Boost::headers): ${what}. ${boost_hint}")
  else()
    _durable_find_header(Boost::headers boost/version.hpp header)
    set(number)
    if(header)
      _durable_define("${header}" BOOST_VERSION number)
    endif()
    if(number)
      math(EXPR major "${number} / 100000")
      math(EXPR minor "${number} / 100 % 1000")
      math(EXPR patch "${number} % 100")
      set(version "${major}.${minor}.${patch}")
      _durable_find_header(Boost::headers boost/pfr.hpp pfr)
      if(version VERSION_LESS 1.75)
        string(CONCAT problem "Boost >= 1.75 is needed: Boost::headers is Boost ${version} "
                              "(${header}). ${boost_hint}")
        list(APPEND problems "${problem}")
      elseif(NOT pfr)
        string(CONCAT problem "Boost.PFR is needed: Boost::headers (Boost ${version}, ${header}) "
                              "has no boost/pfr.hpp. ${boost_hint}")
        list(APPEND problems "${problem}")
      else()
        list(APPEND found "Boost ${version}")
      endif()
    else()
      list(APPEND found "Boost (version not checked: no boost/version.hpp found)")
    endif()
  endif()

  # fmt
  set(fmt_hint "On Debian 12: apt install libfmt-dev (fmt 9.1).")
  if(NOT TARGET fmt::fmt)
    set(what "not found")
    if(fmt_CONSIDERED_VERSIONS)
      set(versions ${fmt_CONSIDERED_VERSIONS})
      list(REMOVE_DUPLICATES versions)
      list(JOIN versions ", " versions)
      set(what "found only fmt ${versions}")
    endif()
    list(APPEND problems "fmt >= 9 (target fmt::fmt): ${what}. ${fmt_hint}")
  else()
    set(number)
    foreach(name IN ITEMS fmt/core.h fmt/base.h)  # FMT_VERSION: core.h to fmt 10, base.h from 11
      _durable_find_header(fmt::fmt ${name} header)
      if(header)
        _durable_define("${header}" FMT_VERSION number)
      endif()
      if(number)
        break()
      endif()
    endforeach()
    if(number)
      math(EXPR major "${number} / 10000")
      math(EXPR minor "${number} / 100 % 100")
      math(EXPR patch "${number} % 100")
      set(version "${major}.${minor}.${patch}")
      if(version VERSION_LESS 9)
        string(CONCAT problem "fmt >= 9 is needed: fmt::fmt is fmt ${version} (${header}). "
                              "${fmt_hint}")
        list(APPEND problems "${problem}")
      else()
        list(APPEND found "fmt ${version}")
      endif()
    else()
      list(APPEND found "fmt (version not checked: no fmt/core.h or fmt/base.h found)")
    endif()
  endif()

  list(TRANSFORM problems PREPEND "  ")
  list(JOIN problems "\n" problems)
  list(JOIN found ", " found)
  set(${out} "${problems}" PARENT_SCOPE)
  set(${found_out} "${found}" PARENT_SCOPE)
endfunction()

// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// durable's version, written in this one place: CMakeLists.txt (project VERSION, the package
/// version file) and conanfile.py read it from here, and a test checks that vcpkg.json and
/// the port's vcpkg.json repeat it. Macros, so that `#if DURABLE_VERSION >= 200` works.

// NOLINTBEGIN(cppcoreguidelines-macro-usage): the version must be usable in #if

#define DURABLE_VERSION_MAJOR 0
#define DURABLE_VERSION_MINOR 2
#define DURABLE_VERSION_PATCH 0

/// 10000 * major + 100 * minor + patch: 0.1.0 is 100, 1.2.3 is 10203.
#define DURABLE_VERSION \
  (DURABLE_VERSION_MAJOR * 10000 + DURABLE_VERSION_MINOR * 100 + DURABLE_VERSION_PATCH)

#define DURABLE_DETAIL_STR(x) #x
#define DURABLE_DETAIL_XSTR(x) DURABLE_DETAIL_STR(x)

/// "major.minor.patch", e.g. "0.1.0".
#define DURABLE_VERSION_STRING               \
  DURABLE_DETAIL_XSTR(DURABLE_VERSION_MAJOR) \
  "." DURABLE_DETAIL_XSTR(DURABLE_VERSION_MINOR) "." DURABLE_DETAIL_XSTR(DURABLE_VERSION_PATCH)

// NOLINTEND(cppcoreguidelines-macro-usage)

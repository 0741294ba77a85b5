# SPDX-License-Identifier: MIT
# Overlay port building durable from the checkout that contains it:
#   vcpkg install durable --overlay-ports=<checkout>/ports
# A port for a registry would fetch a release instead, e.g.
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/durable REF "v${VERSION}" SHA512 ...)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is all there is

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DDURABLE_BUILD_TESTS=OFF
    -DDURABLE_BUILD_EXAMPLES=OFF
    -DDURABLE_BUILD_BENCH=OFF
    -DDURABLE_INSTALL=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/durable)

# Header-only: no libraries, and nothing for a debug configuration.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")

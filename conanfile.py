# SPDX-License-Identifier: MIT
# Conan 2 recipe for durable, header-only, Linux and other POSIX systems. From a checkout:
#   conan create . -s compiler.cppstd=20 --build=missing
# Consumers then use find_package(durable CONFIG REQUIRED) and durable::durable (CMakeDeps).
import os
import re

from conan import ConanFile
from conan.errors import ConanException, ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load

required_conan_version = ">=2.0"


class DurableConan(ConanFile):
    name = "durable"
    description = "Persistent job queues and dead-letter queues on embedded SQLite"
    license = "MIT"
    topics = ("job-queue", "dead-letter-queue", "sqlite", "persistence", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = "include/*", "LICENSE"
    no_copy_source = True
    default_options = {"boost/*:header_only": True}

    def set_version(self):
        # Written once, in include/durable/version.hpp; CMakeLists.txt reads it there too.
        header = load(self, os.path.join(self.recipe_folder, "include", "durable", "version.hpp"))
        parts = []
        for part in ("MAJOR", "MINOR", "PATCH"):
            match = re.search(rf"^#define DURABLE_VERSION_{part} +(\d+)$", header, re.MULTILINE)
            if not match:
                raise ConanException(f"include/durable/version.hpp: no DURABLE_VERSION_{part}")
            parts.append(match.group(1))
        self.version = ".".join(parts)

    def requirements(self):
        # durable's public headers include these, so consumers compile and link them too.
        self.requires("sqlite3/[>=3.35 <4]", transitive_headers=True, transitive_libs=True)
        self.requires("boost/[>=1.75 <2]", transitive_headers=True)
        self.requires("fmt/[>=9.1 <12]", transitive_headers=True, transitive_libs=True)

    def validate(self):
        check_min_cppstd(self, 20)
        if self.settings.os == "Windows":
            raise ConanInvalidConfiguration(
                f"{self.ref} supports Linux and other POSIX systems only, not Windows")

    def package_id(self):
        self.info.clear()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "durable")
        self.cpp_info.set_property("cmake_target_name", "durable::durable")

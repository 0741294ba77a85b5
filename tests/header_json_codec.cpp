// SPDX-License-Identifier: MIT
// The optional header compiles on its own (the other headers are checked by CMake's
// all_verify_interface_header_sets).
#include <durable/codecs/json_codec.hpp>

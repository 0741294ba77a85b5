// SPDX-License-Identifier: MIT
// pfr_codec on a class with private members and a constructor.
#include <durable/codecs/pfr_codec.hpp>

class job {
 public:
  explicit job(int id) : id_(id) {}
  int id() const { return id_; }

 private:
  int id_;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();

// SPDX-License-Identifier: MIT
// Queue<Job> (default pfr_codec) with a job type Boost.PFR cannot reflect.
#include <string>

#include <durable/queue.hpp>

class job {
 public:
  explicit job(std::string s) : s_(std::move(s)) {}

 private:
  std::string s_;
};

int main() { durable::Queue<job> q{"unused.db", "q"}; }

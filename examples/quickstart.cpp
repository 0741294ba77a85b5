// SPDX-License-Identifier: MIT
// The README's example: push a job, claim it under a lease, ack it; then let a Worker
// do the same with retries and a dead-letter queue.
#include <fmt/format.h>

#include <durable/durable.hpp>

struct email {
  std::string to;
  std::string subject;
};

int main() {
  durable::Queue<email> queue{"quickstart.db", "emails"};
  queue.push({"ada@example.com", "Welcome"});
  if (auto claimed = queue.claim(std::chrono::seconds{30})) {  // held under a 30 s lease
    fmt::print("sending '{}' to {}\n", claimed->job->subject, claimed->job->to);
    queue.ack(*claimed);  // done: the job is gone; without an ack it would come back
  }
  queue.push({"grace@example.com", "Your invoice"});
  durable::DeadLetterQueue<email> dlq{"quickstart.db", "emails.dlq"};
  auto send = [](const email& e) {  // throw to fail: the worker retries or dead-letters
    fmt::print("worker sending '{}' to {}\n", e.subject, e.to);
  };
  durable::Worker<email> worker{queue, dlq, send};
  worker.process_available();
}

// SPDX-License-Identifier: MIT
// The README's example: push a job, claim it under a lease, ack it; then let a Worker
// do the same with retries and a dead-letter queue.
#include <durable/durable.hpp>
#include <fmt/format.h>

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
  durable::Worker<email> worker{queue, dlq, [](const email& e) {
    fmt::print("worker sending '{}' to {}\n", e.subject, e.to);  // throw to fail: retried or dead-lettered
  }};
  worker.process_available();
}

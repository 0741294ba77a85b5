// SPDX-License-Identifier: MIT
// The program the PostgreSQL packaging consumer builds: it includes durable's PostgreSQL
// backend the way a user does and opens a connection string. It needs no server: a
// target whose socket directory does not exist must fail with durable::connection_error,
// which shows that the backend is linked and registered (without it the error would be
// invalid_argument_error, "this program has no PostgreSQL backend").
#include <cstdio>
#include <string>

#include <durable/durable.hpp>
#include <durable/postgres.hpp>

int main() {
  try {
    durable::Queue<std::string, durable::bytes_codec> queue{
        "host=/nonexistent/durable-consumer dbname=jobs password=hunter2", "emails"};
    std::fputs("durable consumer: FAILED: opened a server that does not exist\n", stderr);
    return 1;
  } catch (const durable::connection_error& e) {
    if (std::string{e.what()}.find("hunter2") != std::string::npos) {
      std::fputs("durable consumer: FAILED: the password is in the message\n", stderr);
      return 1;
    }
    std::puts("durable consumer: ok (PostgreSQL backend linked and registered)");
    return 0;
  } catch (const durable::error& e) {
    std::fprintf(stderr, "durable consumer: FAILED: %s\n", e.what());
    return 1;
  }
}

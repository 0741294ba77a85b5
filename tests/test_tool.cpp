// SPDX-License-Identifier: MIT
// The `durable` command-line tool end to end: databases made by the library, the built
// program run on them as an operator would, its tables and --json lines checked (times
// normalised), what write commands change and what they leave alone, and bad input.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <durable/codecs/bytes_codec.hpp>
#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/connection.hpp>
#include <durable/queue.hpp>
#include <durable/worker.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::temp_dir;
using json = nlohmann::json;

namespace {

struct email {
  std::string to;
  std::int32_t attempt_limit = 0;
  std::vector<std::string> tags;
};

/// What one run of the tool gave.
struct run_result {
  int status = -1;
  std::string out;
  std::string err;
};

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs `durable <args>` (each argument single-quoted) with its output captured.
run_result durable_tool(const temp_dir& dir, const std::vector<std::string>& args) {
  std::string command = "'" DURABLE_TOOL "'";
  for (const auto& a : args) {
    std::string quoted;
    for (const char c : a) quoted += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
    command += " '" + quoted + "'";
  }
  const auto out = dir.file("stdout.txt");
  const auto err = dir.file("stderr.txt");
  command += " >'" + out + "' 2>'" + err + "' </dev/null";
  const int status = std::system(command.c_str());
  run_result r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

/// What an unchanged database must keep: a SQLite file's bytes; on a server, every queue,
/// job and dead letter as the tool's --json output gives them.
std::string state_of(const temp_dir& dir, const std::string& db) {
  if (durable_test::on_sqlite()) return read_file(db);
  std::string state;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"queues", db, "--json"},
                                               {"dlq", "list", db, "--json"},
                                               {"jobs", db, "emails", "--json"},
                                               {"jobs", db, "raw", "--json"}}) {
    const auto r = durable_tool(dir, args);
    REQUIRE(r.status == 0);
    state += r.out;
  }
  REQUIRE(state.find("\"emails\"") != std::string::npos);
  return state;
}

/// `text` with what depends on when the test runs or on column widths replaced: "3 min
/// ago" by "<ago>", "in 25 s" by "<in>", with `ages` also "3 min" by "<age>", with `times`
/// ISO times by "<time>"; leading
/// spaces removed and runs of spaces made two.
std::string normalised(const std::string& text, bool ages = false, bool times = false) {
  static const std::regex ago{R"(\d+ (s|min|h|d) ago)"};
  static const std::regex in{R"(in \d+ (s|min|h|d))"};
  static const std::regex age{R"(\d+ (s|min|h|d)\b)"};
  static const std::regex spaces{R"( {2,})"};
  static const std::regex leading{R"(^ +)"};
  static const std::regex iso{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"};
  std::istringstream lines{text};
  std::string out;
  std::string line;
  while (std::getline(lines, line)) {
    line = std::regex_replace(line, ago, "<ago>");
    line = std::regex_replace(line, in, "<in>");
    if (ages) line = std::regex_replace(line, age, "<age>");
    if (times) line = std::regex_replace(line, iso, "<time>");
    line = std::regex_replace(line, leading, "");
    out += std::regex_replace(line, spaces, "  ") + '\n';
  }
  return out;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

/// The fixture's clock: 2026-03-02T08:00:00Z, in the past of any machine running this.
const durable::time_point t0{std::chrono::milliseconds{1'772'438'400'000}};

durable::failure fail(std::string type, std::string message, durable::redrive_policy policy) {
  return {std::move(type), std::move(message), "at send()\nat main()", policy};
}

/// A database as an operator meets it: two queues (pfr and bytes jobs; pending, scheduled
/// and claimed), a DLQ with entries of every redrive policy, one added by hand.
void make_fixture(const std::string& path) {
  durable::manual_clock clock{t0};
  auto options = quiet_queue(&clock);
  options.hard_limit = 100;
  options.soft_limit = 50;
  durable::Queue<email> emails{path, "emails", options};
  durable::DeadLetterQueue<email> dlq{emails.db(), "emails.dead", quiet_dlq(&clock)};
  // Dead letters: two timeouts (safe), a bad input (never), a declined payment (optional).
  const auto dead = [&](const std::string& to, durable::failure f) {
    emails.push({to, 3, {"dead"}}, {.key = durable::job_key{to}});
    auto c = emails.claim(30s);
    REQUIRE(c);
    emails.nack(*c, 0ms, {"timeout", "smtp took 30 s", "", durable::redrive_policy::safe});
    c = emails.claim(30s);
    REQUIRE(c);
    dlq.move_from(emails, *c, f);
  };
  dead("a@example.com", fail("timeout", "smtp took 30 s", durable::redrive_policy::safe));
  clock.advance(10min);
  dead("b@example.com", fail("timeout", "smtp took 31 s", durable::redrive_policy::safe));
  clock.advance(50min);
  dead("c@example.com", fail("bad_input", "no such mailbox", durable::redrive_policy::never));
  clock.advance(5min);
  dead("d@example.com",
       fail("payment_declined", "card expired", durable::redrive_policy::optional));
  dlq.add({"hand@example.com", 1, {}},
          fail("manual", "added by hand", durable::redrive_policy::safe), 1);
  // Queue contents, on the real clock so that their states hold while the test runs: one
  // pending, one scheduled, one claimed; raw text and binary.
  auto live_options = quiet_queue();
  durable::Queue<email> live{emails.db(), "emails", live_options};
  durable::Queue<std::string, durable::bytes_codec> raw{emails.db(), "raw", live_options};
  live.push({"pending@example.com", 5, {"welcome", "new"}}, {.priority = 2});
  live.push({"later@example.com", 5, {}}, {.delay = 2h});
  live.push({"held@example.com", 5, {}}, {.priority = 9});
  REQUIRE(live.claim(1h));
  raw.push("hello, operator");
  raw.push(std::string{"\x00\xff\x10", 3});
}

}  // namespace

TEST_CASE("stats shows every queue and DLQ, and --json gives the same as objects") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  make_fixture(db);
  const auto r = durable_tool(dir, {"stats", db});
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  CHECK(normalised(r.out, true) ==
        "QUEUE  PENDING  SCHEDULED  CLAIMED  OLDEST PENDING  SOFT LIMIT  HARD LIMIT  USED  PAUSED\n"
        "emails  1  1  1  <age>  50  100  3.0 %  no\n"
        "raw  2  0  0  <age>  -  -  -  no\n"
        "\n"
        "DLQ  ENTRIES  REDRIVEN  OLDEST FAILURE  NEWEST FAILURE  BY ERROR TYPE\n"
        "emails.dead  5  0  <ago>  <ago>  timeout 2, bad_input 1, manual 1, payment_declined 1\n");
  const auto j = durable_tool(dir, {"stats", db, "--json"});
  CHECK(j.status == 0);
  const auto lines = json_lines(j.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["queue"] == "emails");
  CHECK(lines[0]["pending"] == 1);
  CHECK(lines[0]["hard_limit"] == 100);
  CHECK(lines[0]["oldest_pending_at"].get<std::string>().ends_with("Z"));
  CHECK(lines[2]["kind"] == "dlq");
  CHECK(lines[2]["entries"] == 5);
  CHECK(lines[2]["by_error_type"]["timeout"] == 2);
  CHECK(lines[2]["oldest_failure"] == "2026-03-02T08:00:00.000Z");
  CHECK(lines[2]["newest_failure"] == "2026-03-02T09:05:00.000Z");
  const auto one = durable_tool(dir, {"stats", db, "--queue", "raw", "--utc"});
  CHECK(one.status == 0);
  CHECK(normalised(one.out, false, true) ==
        "QUEUE  PENDING  SCHEDULED  CLAIMED  OLDEST PENDING  SOFT LIMIT  HARD LIMIT  USED  PAUSED\n"
        "raw  2  0  0  <time>  -  -  -  no\n");
}

TEST_CASE("queues, jobs and job show what is in a queue, payloads without the C++ type") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  make_fixture(db);
  auto r = durable_tool(dir, {"queues", db});
  CHECK(r.status == 0);
  CHECK(normalised(r.out) ==
        "NAME  KIND  JOBS  PAUSED\n"
        "emails  queue  3  no\n"
        "raw  queue  2  no\n"
        "emails.dead  dlq  5  -\n");

  r = durable_tool(dir, {"jobs", db, "emails", "--utc"});
  CHECK(r.status == 0);
  CHECK(normalised(r.out, false, true) ==
        "ID  STATE  PRIORITY  KEY  ATTEMPTS  RUN AT  ENQUEUED  BYTES\n"
        "7  claimed  9  -  0/5  <time>  <time>  22\n"
        "5  pending  2  -  0/5  <time>  <time>  37\n"
        "6  scheduled  0  -  0/5  <time>  <time>  23\n");
  // A table cut by --limit says so (the queue holds 3 jobs); one that is whole does not.
  r = durable_tool(dir, {"jobs", db, "emails", "--limit", "2", "--utc"});
  CHECK(r.status == 0);
  CHECK(normalised(r.out, false, true) ==
        "ID  STATE  PRIORITY  KEY  ATTEMPTS  RUN AT  ENQUEUED  BYTES\n"
        "7  claimed  9  -  0/5  <time>  <time>  22\n"
        "5  pending  2  -  0/5  <time>  <time>  37\n"
        "more jobs: only the first 2 are shown; raise --limit\n");
  r = durable_tool(dir, {"jobs", db, "emails", "--limit", "3"});
  CHECK(r.out.find("more jobs") == std::string::npos);
  r = durable_tool(dir, {"jobs", db, "emails", "--limit", "2", "--json"});
  CHECK(json_lines(r.out).size() == 2);
  r = durable_tool(dir, {"jobs", db, "emails", "--state", "pending", "--json"});
  CHECK(r.status == 0);
  auto lines = json_lines(r.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["id"] == 5);
  CHECK(lines[0]["state"] == "pending");

  r = durable_tool(dir, {"job", db, "5", "--utc"});
  CHECK(r.status == 0);
  CHECK(normalised(r.out, false, true) ==
        "FIELD  VALUE\n"
        "job  5\n"
        "queue  emails\n"
        "state  pending\n"
        "key  -\n"
        "priority  2\n"
        "attempts  0 of 5\n"
        "run at  <time>\n"
        "enqueued  <time>\n"
        "codec  pfr (fingerprint " +
            fmt::format("{:016x}", durable::pfr_codec::fingerprint<email>()) +
            ")\n"
            "\n"
            "history:\n"
            "no failed attempt\n"
            "\n"
            "payload (json, 37 bytes):\n"
            "{\n"
            "\"0\": \"pending@example.com\",\n"
            "\"1\": 5,\n"
            "\"2\": [\n"
            "\"welcome\",\n"
            "\"new\"\n"
            "]\n"
            "}\n");
  r = durable_tool(dir, {"job", db, "7", "--json"});
  CHECK(r.status == 0);
  lines = json_lines(r.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["state"] == "claimed");
  CHECK(lines[0]["lease_holder"].is_string());
  CHECK(lines[0]["payload"] == json::parse(R"({"0":"held@example.com","1":5,"2":[]})"));

  // bytes_codec: text when it is UTF-8, hex otherwise.
  r = durable_tool(dir, {"job", db, "8", "--json"});
  CHECK(json_lines(r.out).at(0)["payload"] == "hello, operator");
  CHECK(json_lines(r.out).at(0)["payload_format"] == "text");
  r = durable_tool(dir, {"job", db, "9", "--json"});
  CHECK(json_lines(r.out).at(0)["payload"] == "00ff10");
  CHECK(json_lines(r.out).at(0)["payload_format"] == "hex");
  // A custom renderer command for a codec.
  r = durable_tool(dir, {"job", db, "9", "--json", "--render",
                         "bytes=od -An -tx1 | tr -d ' \\n'; echo \" $DURABLE_CODEC\""});
  CHECK(json_lines(r.out).at(0)["payload"] == "00ff10 bytes");
  CHECK(json_lines(r.out).at(0)["payload_format"] == "command");
}

TEST_CASE("dlq list, show and count --by show entries, history and an outage's shape") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  make_fixture(db);
  auto r = durable_tool(dir, {"dlq", "list", db, "--utc"});
  CHECK(r.status == 0);
  CHECK(normalised(r.out) ==
        "ID  DLQ  QUEUE  KEY  ERROR  POLICY  ATTEMPTS  FAILED  MESSAGE\n"
        "5  emails.dead  -  -  manual  safe  1  2026-03-02T09:05:00.000Z  added by hand\n"
        "4  emails.dead  emails  d@example.com  payment_declined  optional  2  "
        "2026-03-02T09:05:00.000Z  card expired\n"
        "3  emails.dead  emails  c@example.com  bad_input  never  2  2026-03-02T09:00:00.000Z  "
        "no such mailbox\n"
        "2  emails.dead  emails  b@example.com  timeout  safe  2  2026-03-02T08:10:00.000Z  smtp "
        "took 31 s\n"
        "1  emails.dead  emails  a@example.com  timeout  safe  2  2026-03-02T08:00:00.000Z  smtp "
        "took 30 s\n");
  // Pages: --limit and the printed cursor; both window bounds inclusive.
  r = durable_tool(dir, {"dlq", "list", db, "--limit", "2"});
  CHECK(r.out.find("more entries: add --after 1772442300000:4") != std::string::npos);
  r = durable_tool(dir, {"dlq", "list", db, "--json", "--after", "1772442300000:4"});
  auto lines = json_lines(r.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["id"] == 3);
  r = durable_tool(dir, {"dlq", "list", db, "--json", "--since", "2026-03-02T08:10:00Z", "--until",
                         "2026-03-02T09:00Z", "--type", "timeout", "--type", "bad_input"});
  lines = json_lines(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["id"] == 3);
  CHECK(lines[1]["id"] == 2);
  CHECK(lines[1]["failed_at"] == "2026-03-02T08:10:00.000Z");
  r = durable_tool(dir, {"dlq", "list", db, "--json", "--key", "b@example.com"});
  CHECK(json_lines(r.out).size() == 1);

  r = durable_tool(dir, {"dlq", "show", db, "3", "--utc"});
  CHECK(r.status == 0);
  const auto shown = normalised(r.out);
  CHECK(shown.find("error  bad_input\n") != std::string::npos);
  CHECK(shown.find("redrive policy  never\n") != std::string::npos);
  CHECK(shown.find("context:\nat send()\nat main()\n") != std::string::npos);
  CHECK(shown.find("history:\n1. 2026-03-02T09:00:00.000Z  timeout: smtp took 30 s\n"
                   "2. 2026-03-02T09:00:00.000Z  bad_input: no such mailbox\n") !=
        std::string::npos);
  CHECK(shown.find("\"0\": \"c@example.com\"") != std::string::npos);
  r = durable_tool(dir, {"dlq", "show", db, "3", "--json"});
  lines = json_lines(r.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["history"].size() == 2);
  CHECK(lines[0]["payload"]["0"] == "c@example.com");

  r = durable_tool(dir, {"dlq", "count", db, "--by", "hour"});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "HOUR (UTC)         COUNT\n"
        "2026-03-02T08:00Z      2  " +
            std::string(26, '#') +
            "\n"
            "2026-03-02T09:00Z      3  " +
            std::string(40, '#') + "\n");
  r = durable_tool(dir, {"dlq", "count", db, "--by", "type", "--json"});
  lines = json_lines(r.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == json::parse(R"({"error_type":"timeout","count":2})"));
  r = durable_tool(dir, {"dlq", "count", db});
  CHECK(normalised(r.out) == "DLQ  ENTRIES\nemails.dead  5\ntotal  5\n");
}

TEST_CASE("redrive applies each entry's policy, and --dry-run changes nothing") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  make_fixture(db);
  const auto before = state_of(dir, db);
  auto r = durable_tool(dir, {"dlq", "redrive", db, "--dry-run"});
  CHECK(r.status == 0);
  CHECK(normalised(r.out) ==
        "ID  DLQ  ERROR  POLICY  OUTCOME  DETAIL\n"
        "1  emails.dead  timeout  safe  would redrive  into emails\n"
        "2  emails.dead  timeout  safe  would redrive  into emails\n"
        "3  emails.dead  bad_input  never  skipped  policy never: pass --force to redrive it "
        "anyway\n"
        "4  emails.dead  payment_declined  optional  skipped  policy optional: name its error "
        "type with --type, or pass --include-optional\n"
        "5  emails.dead  manual  safe  skipped  no source queue in this database (added by "
        "hand or from another database): pass --to QUEUE\n"
        "dry run: 2 of 5 entries would be redriven, 3 skipped; nothing was changed\n");
  CHECK(state_of(dir, db) == before);
  r = durable_tool(dir, {"stats", db, "--json"});
  CHECK(json_lines(r.out).at(2)["entries"] == 5);

  r = durable_tool(dir, {"dlq", "redrive", db, "--json"});
  CHECK(r.status == 0);
  auto lines = json_lines(r.out);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0]["outcome"] == "redriven");
  CHECK(lines[1]["outcome"] == "redriven");
  CHECK(lines[2]["outcome"] == "skipped");
  r = durable_tool(dir, {"dlq", "redrive", db, "--type", "payment_declined"});
  CHECK(r.out.find("1 of 1 entries redriven, 0 skipped") != std::string::npos);
  r = durable_tool(dir, {"dlq", "redrive", db, "--to", "raw", "--force", "--json"});
  lines = json_lines(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["id"] == 3);
  CHECK(lines[0]["outcome"] == "redriven");
  CHECK(lines[1]["id"] == 5);
  CHECK(lines[1]["outcome"] == "redriven");
  r = durable_tool(dir, {"queues", db, "--json"});
  lines = json_lines(r.out);
  CHECK(lines[0]["jobs"] == 6);  // emails: 3 + 3 redriven
  CHECK(lines[1]["jobs"] == 4);  // raw: 2 + 2 forced
  r = durable_tool(dir, {"dlq", "redrive", db});
  CHECK(r.out.find("no entries selected") != std::string::npos);
}

TEST_CASE("purge deletes what it counts, and --dry-run and bad combinations delete nothing") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  make_fixture(db);
  const auto before = state_of(dir, db);
  auto r = durable_tool(dir, {"dlq", "purge", db, "--type", "timeout", "--dry-run"});
  CHECK(r.status == 0);
  CHECK(normalised(r.out) ==
        "DLQ  WOULD DELETE\nemails.dead  2\ndry run: 2 entries would be deleted; nothing was "
        "changed\n");
  CHECK(state_of(dir, db) == before);
  r = durable_tool(dir, {"dlq", "purge", db});
  CHECK(r.status == 2);
  r = durable_tool(dir, {"dlq", "purge", db, "--older-than", "1d", "--type", "timeout"});
  CHECK(r.status == 2);
  CHECK(state_of(dir, db) == before);
  r = durable_tool(dir, {"dlq", "purge", db, "--type", "timeout", "--json"});
  CHECK(r.status == 0);
  CHECK(json_lines(r.out).at(0)["deleted"] == 2);
  r = durable_tool(dir, {"dlq", "purge", db, "--older-than", "1d"});  // the fixture is older
  CHECK(normalised(r.out) == "DLQ  DELETED\nemails.dead  3\n3 entries deleted\n");
  r = durable_tool(dir, {"dlq", "count", db});
  CHECK(normalised(r.out) == "DLQ  ENTRIES\ntotal  0\n");
}

TEST_CASE("job cancel deletes a waiting job, refuses a claimed one without --force") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  make_fixture(db);
  auto r = durable_tool(dir, {"job", "cancel", db, "7"});
  CHECK(r.status == 1);
  CHECK(r.err.find("is claimed by a worker now; nothing was changed") != std::string::npos);
  r = durable_tool(dir, {"job", "cancel", db, "6"});
  CHECK(r.status == 0);
  CHECK(r.out == "cancelled job 6 of queue emails\n");
  r = durable_tool(dir, {"job", "cancel", db, "7", "--force", "--json"});
  CHECK(r.status == 0);
  CHECK(json_lines(r.out).at(0) == json::parse(R"({"id":7,"queue":"emails","cancelled":true})"));
  r = durable_tool(dir, {"job", db, "6"});
  CHECK(r.status == 1);
  CHECK(r.err.starts_with("durable: no job 6 in"));
}

TEST_CASE("a paused queue is claimed by no Worker of another process until it is resumed") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  {
    durable::Queue<email> q{db, "emails", quiet_queue()};
    q.push({"first@example.com", 1, {}});
  }
  // The worker process: each byte on `commands` runs process_available() once and
  // answers with the number of jobs it processed.
  std::array<int, 2> commands{};
  std::array<int, 2> answers{};
  REQUIRE(pipe(commands.data()) == 0);
  REQUIRE(pipe(answers.data()) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(commands[1]);
    close(answers[0]);
    int status = 0;
    try {
      durable::Queue<email> q{db, "emails", quiet_queue()};
      durable::DeadLetterQueue<email> dlq{q.db(), "emails.dead", quiet_dlq()};
      durable::worker_options options;
      options.log = nullptr;
      durable::Worker<email> worker{q, dlq, [](const email&) {}, options};
      char c = 0;
      while (read(commands[0], &c, 1) == 1) {
        const auto n = static_cast<char>(worker.process_available());
        if (write(answers[1], &n, 1) != 1) break;
      }
    } catch (...) {
      status = 3;
    }
    _exit(status);
  }
  close(commands[0]);
  close(answers[1]);
  const auto work = [&] {
    const char go = 'g';
    REQUIRE(write(commands[1], &go, 1) == 1);
    char n = -1;
    REQUIRE(read(answers[0], &n, 1) == 1);
    return static_cast<int>(n);
  };
  auto r = durable_tool(dir, {"queue", "pause", db, "emails"});
  CHECK(r.status == 0);
  CHECK(r.out.starts_with("queue emails paused"));
  CHECK(work() == 0);
  CHECK(work() == 0);
  r = durable_tool(dir, {"stats", db, "--json"});
  CHECK(json_lines(r.out).at(0)["paused"] == true);
  CHECK(json_lines(r.out).at(0)["pending"] == 1);
  r = durable_tool(dir, {"queue", "resume", db, "emails"});
  CHECK(r.status == 0);
  CHECK(work() == 1);
  close(commands[1]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  close(answers[0]);
  r = durable_tool(dir, {"queue", "pause", db, "nosuch"});
  CHECK(r.status == 1);
  CHECK(r.err.find("unknown queue \"nosuch\"") != std::string::npos);
}

TEST_CASE("bad input: one line on stderr, exit status 1 or 2, nothing created or changed" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto db = dir.file("ops.db");
  make_fixture(db);
  const auto before = state_of(dir, db);
  const auto one_line = [](const run_result& r) {
    return r.out.empty() && r.err.starts_with("durable: ") && r.err.find('\n') == r.err.size() - 1;
  };
  struct bad_case {
    std::vector<std::string> args;
    int status;
    std::string text;
  };
  const auto missing = dir.file("missing.db");
  const auto notes = dir.file("notes.txt");
  { std::ofstream{notes} << "not a database\n"; }
  const std::vector<bad_case> cases{
      // the whole advice: nothing about a file that "can be created" (a read-only open)
      {{"stats", missing},
       1,
       "does not exist (a read-only open never creates a file); check the path\n"},
      {{"stats", dir.path().string()}, 1, "it is a directory; give the path of a database file\n"},
      {{"stats", ""}, 1, "the path is empty; give the path of a database file\n"},
      {{"dlq", "list", missing}, 1, "does not exist"},
      {{"queue", "pause", missing, "emails"}, 1, "does not exist"},
      {{"stats", notes}, 1, "not a SQLite database"},
      {{"jobs", db, "nosuch"}, 1, "unknown queue \"nosuch\""},
      {{"jobs", db, "bad name!"}, 2, "contains a character outside"},
      {{"job", db, "999"}, 1, "no job 999"},
      {{"dlq", "show", db, "999"}, 1, "no dead-letter entry 999"},
      {{"dlq", "list", db, "--dlq", "nosuch"}, 1, "no dead-letter queue \"nosuch\""},
      {{"dlq", "list", db, "--since", "yesterday"}, 2, "--since \"yesterday\" is not a time"},
      {{"dlq", "list", db, "--since", "2026-02-30"}, 2, "is not a time"},
      {{"dlq", "list", db, "--until", "99999999999999999999d"}, 2, "is not a time"},
      {{"dlq", "list", db, "--since", "1h", "--until", "2h"}, 2, "is after --until"},
      {{"dlq", "list", db, "--after", "garbage"}, 2, "is not a cursor"},
      {{"dlq", "purge", db, "--older-than", "-5d"}, 2, "is not a positive duration"},
      {{"dlq", "purge", db, "--older-than", "5 days"}, 2, "is not a positive duration"},
      {{"dlq", "purge", db, "--older-than", "0d"}, 2, "is not a positive duration"},
      {{"dlq", "count", db, "--by", "week"}, 2, "is not type, hour or day"},
      {{"jobs", db, "emails", "--state", "done"}, 2, "is not pending, scheduled or claimed"},
      {{"job", db, "12x"}, 2, "durable: usage:"},
      {{"frobnicate", db},
       2,
       "unknown command \"frobnicate\" after \"durable\"; the commands are: stats,"},
      {{"dlq", "lst", db},
       2,
       "unknown command \"lst\" after \"durable dlq\"; the commands are: list,"},
      {{"dlq"}, 2, "\"durable dlq\" needs a command: list, show, count, redrive, purge"},
      {{"queue", "stop", db, "emails"},
       2,
       "the commands are: pause, resume; see durable queue --help"},
      {{"stats"}, 2, "DB is required; see durable stats --help"},
      {{"job", db, "99999999999999999999"}, 2, "99999999999999999999 does not fit in a 64-bit"},
      {{"dlq", "show", db, "-99999999999999999999"}, 2, "does not fit in a 64-bit integer"},
      {{"dlq", "list", db, "--limit", "99999999999999999999"}, 2, "does not fit in a 64-bit"},
      {{"dlq", "redrive", db, "--to", "nosuch"}, 1, "unknown queue \"nosuch\""},
      {{"job", db, "5", "--render", "novalue"}, 2, "is not CODEC=COMMAND"},
  };
  for (const auto& c : cases) {
    auto args = c.args;
    CAPTURE(args);
    const auto r = durable_tool(dir, args);
    CHECK(r.status == c.status);
    CHECK(one_line(r));
    CHECK(r.err.find(c.text) != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(missing));
  CHECK(read_file(notes) == "not a database\n");
  CHECK(state_of(dir, db) == before);

  // A write lock held by another program past the busy timeout: advice an operator can
  // follow (not the C++ open_options), nothing changed.
  {
    durable::detail::sqlite::connection holder{db, {}};
    holder.run("BEGIN IMMEDIATE");
    const auto r = durable_tool(dir, {"queue", "pause", db, "emails"});
    holder.run("ROLLBACK");
    CHECK(r.status == 1);
    CHECK(one_line(r));
    CHECK(r.err.find("database is locked") != std::string::npos);
    CHECK(r.err.find("another program held a lock this command needs for more than 5000 ms; "
                     "nothing was changed; retry when it is done\n") != std::string::npos);
    CHECK(r.err.find("open_options") == std::string::npos);
  }
  auto paused = durable_tool(dir, {"--json", "queues", db});
  CHECK(paused.out.find("\"paused\":true") == std::string::npos);

  // A newer schema is refused; an older one is refused by reading commands (a read-only
  // open does not migrate) and by writing ones, with the file unchanged, until `migrate`.
  {
    durable::detail::sqlite::connection c{db, {}};
    c.run("UPDATE durable_meta SET value = 99 WHERE key = 'schema_version'");
  }
  auto r = durable_tool(dir, {"stats", db});
  CHECK(r.status == 1);
  CHECK(one_line(r));
  CHECK(r.err.find("has schema version 99, newer than") != std::string::npos);
  r = durable_tool(dir, {"migrate", db});
  CHECK(r.status == 1);
  const auto old = dir.file("v3.db");
  const auto schema_version = [&] {
    durable::detail::sqlite::connection c{old, {}};
    return durable::detail::sqlite::stored_schema_version(c);
  };
  {  // as version 3 wrote it: no job types, views or Worker columns
    durable::detail::sqlite::connection c{old, {}};
    durable::detail::sqlite::migrate(c, std::span{durable::detail::sqlite::migrations}.first(3));
    c.run("INSERT INTO durable_queues (id, name, jobs) VALUES (1, 'emails', 0)");
  }
  const auto v3 = read_file(old);
  for (const auto& args : {std::vector<std::string>{"stats", old},
                           std::vector<std::string>{"queue", "pause", old, "emails"}}) {
    CAPTURE(args);
    r = durable_tool(dir, args);
    CHECK(r.status == 1);
    CHECK(one_line(r));
    CHECK(r.err.find("has schema version 3, older than the version") != std::string::npos);
    CHECK(r.err.find("durable migrate") != std::string::npos);
  }
  CHECK(read_file(old) == v3);
  CHECK(schema_version() == 3);
  r = durable_tool(dir, {"migrate", old});
  CHECK(r.status == 0);
  CHECK(schema_version() == durable::detail::sqlite::migrations.back().version);
  r = durable_tool(dir, {"queue", "pause", old, "emails"});
  CHECK(r.status == 0);
  r = durable_tool(dir, {"stats", old});
  CHECK(r.status == 0);
  CHECK(r.out.find("emails") != std::string::npos);
}

#ifdef DURABLE_TOOL_WITH_POSTGRES
// Needs no server (none listens there): runs under either backend.
TEST_CASE("a PostgreSQL server that cannot be reached: one line an operator can act on") {
  temp_dir dir;
  const auto target = "host=" + dir.file("no-server") + " dbname=jobs password=s3cret";
  const auto r = durable_tool(dir, {"stats", target});
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(r.err.starts_with("durable: postgres: connecting failed on \"host="));
  CHECK(
      r.err.ends_with("nothing was changed; check that the server runs and accepts this "
                      "connection, then run the command again\n"));
  CHECK(r.err.find("password=***") != std::string::npos);
  CHECK(r.err.find("s3cret") == std::string::npos);
  CHECK(r.err.find("next call") == std::string::npos);
}
#endif

TEST_CASE(
    "hints name the database as one shell word without its password, and a "
    "dead-lettered job's entry") {
  temp_dir dir;
  std::string target;
  std::string shown;  // the database as a hint's command must show it
  if (durable_test::on_sqlite()) {
    target = dir.file("it's here.db");
    shown = "'";
    for (const char c : target) shown += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
    shown += "'";
  } else {  // the test server trusts every connection: the password is only carried
    target = dir.db("hints");
    const bool uri = target.starts_with("postgresql://") || target.starts_with("postgres://");
    target +=
        uri ? (target.find('?') == std::string::npos ? "?password=s3cret" : "&password=s3cret")
            : " password=s3cret";
  }
  make_fixture(target);
  struct hint_case {
    std::vector<std::string> args;
    std::string hint;
  };
  for (const auto& c : std::vector<hint_case>{
           {{"job", target, "1"},
            "it was dead-lettered as entry 1 of emails.dead; `durable dlq show "},
           {{"jobs", target, "nosuch"}, "`durable queues "},
           {{"dlq", "show", target, "99"}, "`durable dlq list "},
           {{"queue", "pause", target, "nosuch"}, "`durable queues "}}) {
    CAPTURE(c.args);
    const auto r = durable_tool(dir, c.args);
    CHECK(r.status == 1);
    CHECK(r.err.find(c.hint) != std::string::npos);
    if (durable_test::on_sqlite()) {
      CHECK(r.err.find(c.hint + shown) != std::string::npos);
    } else {
      CHECK(r.err.find("password=***") != std::string::npos);
      CHECK(r.err.find("s3cret") == std::string::npos);
    }
  }
}

TEST_CASE("stored text cannot drive the terminal: control characters are shown escaped") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  {
    durable::DeadLetterQueue<email> dlq{db, "dead", quiet_dlq()};
    dlq.add(
        {"x@example.com", 1, {}},
        {"evil\x1b]0;owned\x07", "line one\nline two\x1b[2J", "", durable::redrive_policy::safe},
        1);
  }
  const auto r = durable_tool(dir, {"dlq", "list", db});
  CHECK(r.status == 0);
  CHECK(r.out.find('\x1b') == std::string::npos);
  CHECK(r.out.find('\x07') == std::string::npos);
  CHECK(r.out.find("evil\\x1b]0;owned\\x07") != std::string::npos);
  CHECK(r.out.find("line one\\nline two\\x1b[2J") != std::string::npos);
  const auto j = durable_tool(dir, {"dlq", "list", db, "--json"});
  CHECK(json_lines(j.out).at(0)["message"] == "line one\nline two\x1b[2J");
}

TEST_CASE("a redrive of more than 10,000 entries shows its progress on a terminal's stderr") {
  temp_dir dir;
  const auto db = dir.db("ops.db");
  {
    durable::Queue<email> q{db, "emails", quiet_queue()};
    durable::DeadLetterQueue<email> dlq{q.db(), "dead", quiet_dlq()};
    for (int i = 0; i < 10'001; ++i) {
      dlq.add({"x@example.com", i, {}}, {"timeout", "slow", "", durable::redrive_policy::safe}, 1,
              {.queue = "emails"});
    }
  }
  // `script` gives the tool a terminal; its output (both streams) lands in the typescript.
  const auto typescript = dir.file("typescript");
  const std::string command = "script -qec \"'" DURABLE_TOOL "' dlq redrive '" + db +
                              "' --dry-run >/dev/null\" '" + typescript + "' >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  const auto seen = read_file(typescript);
  CHECK(seen.find("redrive (dry run): 1000/10001") != std::string::npos);
  CHECK(seen.find("redrive (dry run): 10001/10001") != std::string::npos);
  // Not a terminal: no progress line.
  const auto r = durable_tool(dir, {"dlq", "redrive", db, "--dry-run"});
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  // Past 10,000 entries the table has one line per (DLQ, error, policy, outcome).
  CHECK(normalised(r.out) ==
        "ENTRIES  DLQ  ERROR  POLICY  OUTCOME  DETAIL\n"
        "10001  dead  timeout  safe  would redrive  into emails\n"
        "dry run: 10001 of 10001 entries would be redriven, 0 skipped; nothing was changed\n");
}

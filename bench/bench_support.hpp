// Helpers shared by lrm_bench and lrm_soak: percentiles, what /proc says
// about a process, spawning a process with a clean environment, and one JSON
// result line on stderr.
#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Stringifier.h>
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace lrm::bench {

using Clock = std::chrono::steady_clock;

inline double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// Field @p index (1-based, as in proc(5)) of /proc/<pid>/stat; 0 if the
// process is gone.
inline unsigned long long statField(pid_t pid, int index) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string field;
  for (int i = 3; fields >> field; ++i) {
    if (i == index) return std::stoull(field);
  }
  return 0;
}

inline double cpuMs(pid_t pid) {
  return static_cast<double>(statField(pid, 14) + statField(pid, 15)) * 1000.0 /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

inline double rssKiB(pid_t pid) {
  return static_cast<double>(statField(pid, 24)) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1024.0;
}

// posix_spawn @p args with exactly @p env; stdout and stderr go to @p output
// (appended). @return the pid, or -1.
inline pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::string& output = "/dev/null") {
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// One result as a JSON line on stderr.
inline void emit(Poco::JSON::Object& line) {
  std::ostringstream json;
  Poco::JSON::Stringifier::condense(line, json);
  std::cerr << json.str() << "\n";
}

}  // namespace lrm::bench

// The journal (see state_store.hpp). One record per line: the CRC-32 of its
// JSON text (8 hex digits), a space, the JSON text. The first line is the
// format version, {"v":3}; every other record is an envelope, "r" (its kind)
// and "id" (its instance), with the fields of one protocol record
// (lrm/protocol/records.hpp) under the same names as on the wire, written and
// read by the protocol's JSON codec:
//   reg    a RegisterRequest: id, name, agent, params, drop_recurring
//   unreg  the envelope only
//   run    an op was launched: an exec Event without its outcome
//   res    its result: an exec Event, output and exit reason included
//   rec+   a recurring op is active: an Op
//   rec-   it ended: an Op (its action and interval_ms)
// Formats 1 (no checksums) and 2 are still read: their keys had other names
// (legacy_keys.hpp maps them) and a result's output was not kept.
#include "state_store.hpp"

#include <Poco/Checksum.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>
#include <Poco/Timestamp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "legacy_keys.hpp"
#include "log.hpp"
#include "protocol/codec.hpp"

namespace lrm::kernel {
namespace {

constexpr int kFormatVersion = 3;
constexpr std::size_t kChecksumDigits = 8;
constexpr std::size_t kMaxDamageLogged = 20;  // lines; then one summary
constexpr std::chrono::seconds kCompactionRetry{1};
using Poco::JSON::Object;
namespace json = protocol::json;

std::string checksumOf(std::string_view json) {
  Poco::Checksum crc(Poco::Checksum::TYPE_CRC32);
  crc.update(json.data(), static_cast<unsigned>(json.size()));
  char digits[kChecksumDigits + 1];
  std::snprintf(digits, sizeof digits, "%08x", static_cast<unsigned>(crc.checksum()));
  return std::string(digits, kChecksumDigits);
}

std::string line(const Object& object) {
  std::ostringstream out;
  Poco::JSON::Stringifier::condense(object, out);
  const std::string json = out.str();
  return checksumOf(json) + " " + json + "\n";
}

void writeAll(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("unable to write " + path + ": " + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

// The value of "key":"..." in a damaged line, if it is still there.
std::string fieldOf(std::string_view text, const std::string& key) {
  const std::string marker = "\"" + key + "\":\"";
  const auto at = text.find(marker);
  if (at == std::string_view::npos) return {};
  const auto begin = at + marker.size();
  const auto end = text.find('"', begin);
  return clip(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin), 200);
}

std::string describeLost(std::string_view text) {
  const std::string kind = fieldOf(text, "r");
  const std::string id = fieldOf(text, "id");
  if (kind.empty() && id.empty()) return "an unreadable record";
  return (kind.empty() ? std::string("a record") : "a '" + kind + "' record") +
         (id.empty() ? std::string() : " of instance '" + id + "'");
}

// The JSON text of one line of a journal of @p version; throws if the line
// is not one (format 2: the checksum does not match).
std::string_view jsonOf(std::string_view text, int version) {
  if (version == 1) return text;
  if (text.size() <= kChecksumDigits + 1 || text[kChecksumDigits] != ' ') {
    throw std::runtime_error("no checksum");
  }
  const auto json = text.substr(kChecksumDigits + 1);
  if (text.substr(0, kChecksumDigits) != checksumOf(json)) throw std::runtime_error("checksum mismatch");
  return json;
}

// Replay state, then turned into RestoredInstances.
class Replayer {
 public:
  void apply(Object& record, int version) {
    if (version < 3) upgradeLegacyJournalRecord(record);
    const std::string kind = record.getValue<std::string>("r");
    const std::string id = record.getValue<std::string>("id");
    if (kind == "reg") {
      const auto request = json::fromJson<protocol::RegisterRequest>(record, 0);
      RestoredInstance instance;
      instance.id = id;
      instance.name = request.name;
      instance.agent = request.agent;
      instance.drop_recurring = request.drop_recurring;
      instance.params = request.params;
      instances_[id] = std::move(instance);
    } else if (kind == "unreg") {
      instances_.erase(id);
      last_.erase(id);
      running_.erase(id);
      recurring_.erase(id);
    } else if (kind == "run") {
      const auto event = json::fromJson<ExecEvent>(record, protocol::kOutcome);
      running_[id][event.call_id] = event;
    } else if (kind == "rec+") {
      const auto op = json::fromJson<OpView>(record, 0);
      recurring_[id][{op.action, op.interval_ms}] = op;
    } else if (kind == "rec-") {
      const auto op = json::fromJson<OpView>(record);
      recurring_[id].erase({op.action, op.interval_ms});
    } else if (kind == "res") {
      const auto event = json::fromJson<ExecEvent>(record, 0);
      running_[id].erase(event.call_id);
      last_[id][{event.action, event.interval_ms}] = event;
    } else {
      throw std::runtime_error("unknown record type '" + clip(kind, 100) + "'");
    }
  }

  std::vector<RestoredInstance> result() {
    std::vector<RestoredInstance> result;
    // A record of format 1 or 2 holds no name or agent: the instance's are theirs.
    const auto named = [](ExecEvent event, const RestoredInstance& instance) {
      if (event.name.empty()) event.name = instance.name;
      if (event.agent.empty()) event.agent = instance.agent;
      return event;
    };
    for (auto& [id, instance] : instances_) {
      for (auto& [key, event] : last_[id]) instance.last.push_back(named(event, instance));
      std::sort(instance.last.begin(), instance.last.end(),
                [](const ExecEvent& a, const ExecEvent& b) { return a.call_id < b.call_id; });
      for (auto& [call, event] : running_[id]) instance.interrupted.push_back(named(event, instance));
      for (auto& [key, op] : recurring_[id]) instance.recurring.push_back(op);
      result.push_back(std::move(instance));
    }
    return result;
  }

 private:
  std::map<std::string, RestoredInstance> instances_;
  std::map<std::string, std::map<std::pair<std::string, std::uint64_t>, ExecEvent>> last_;
  std::map<std::string, std::map<sdk::CallId, ExecEvent>> running_;
  std::map<std::string, std::map<std::pair<std::string, std::uint64_t>, OpView>> recurring_;
};

// The format version of a journal whose first line is @p text.
int versionOf(std::string_view text) {
  const bool checksummed = !text.empty() && text.front() != '{';
  Poco::JSON::Parser parser;
  int version = 0;
  try {
    const std::string json(checksummed ? jsonOf(text, 2) : text);
    version = parser.parse(json).extract<Object::Ptr>()->getValue<int>("v");
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("its header (line 1) is unreadable (" + clip(e.displayText(), 200) + ")");
  } catch (const std::exception& e) {
    throw std::runtime_error("its header (line 1) is unreadable (" + clip(e.what(), 200) + ")");
  }
  if (version > kFormatVersion) {
    throw NewerJournalError(version, "its format " + std::to_string(version) + " is newer than this lrmd's (" +
                                         std::to_string(kFormatVersion) + ")");
  }
  if (version < 1 || (version == 1) == checksummed) {
    throw std::runtime_error("its header (line 1) names format " + std::to_string(version) +
                             (checksummed ? " with a checksum" : " without a checksum"));
  }
  return version;
}

}  // namespace

JournalReplay replayJournal(std::string_view data) {
  JournalReplay replay;
  if (data.empty()) return replay;
  const auto first_end = data.find('\n');
  if (first_end == std::string_view::npos) throw std::runtime_error("its header (line 1) is incomplete");
  replay.version = versionOf(data.substr(0, first_end));
  Replayer replayer;
  Poco::JSON::Parser parser;
  std::size_t number = 1;
  for (std::size_t at = first_end + 1; at < data.size();) {
    const auto end = data.find('\n', at);
    if (end == std::string_view::npos) {  // torn: the crash came while it was appended
      replay.torn_bytes = data.size() - at;
      break;
    }
    const auto text = data.substr(at, end - at);
    at = end + 1;
    ++number;
    try {
      parser.reset();
      const std::string json(jsonOf(text, replay.version));
      Object::Ptr record = parser.parse(json).extract<Object::Ptr>();
      replayer.apply(*record, replay.version);
      ++replay.records;
    } catch (const Poco::Exception& e) {
      replay.damaged.push_back({number, clip(e.displayText(), 200), describeLost(text)});
    } catch (const std::exception& e) {
      replay.damaged.push_back({number, clip(e.what(), 200), describeLost(text)});
    }
  }
  replay.instances = replayer.result();
  return replay;
}

StateStore::StateStore(std::string dir, std::function<void()> durable)
    : dir_(std::move(dir)), path_(dir_ + "/journal"), on_durable_(std::move(durable)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("unable to create state directory " + dir_ + ": " + ec.message());
  ::chmod(dir_.c_str(), 0700);
  syncer_ = std::thread([this] { syncerLoop(); });
}

StateStore::~StateStore() {
  try {
    sync();
  } catch (...) {
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  syncer_.join();
  if (fd_ >= 0) ::close(fd_);
}

void StateStore::syncerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || (!paused_ && !handed_.empty()); });
    if (handed_.empty()) return;  // stopping, nothing left
    std::string bytes;
    bytes.swap(handed_);
    if (!failure_.empty()) continue;  // not written: the snapshot that ends the failure covers it
    const std::uint64_t batch = submitted_;
    const int fd = fd_;
    busy_ = true;
    lock.unlock();
    std::string error;
    try {
      writeAll(fd, bytes, path_);
      if (::fdatasync(fd) != 0) throw std::runtime_error("unable to sync " + path_ + ": " + std::strerror(errno));
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    busy_ = false;
    if (error.empty()) {
      written_ = batch;
    } else {
      // A batch may be half written now: nothing more goes to this file.
      failure_ = error;
    }
    changed_.notify_all();
    if (on_durable_) on_durable_();
  }
}

std::uint64_t StateStore::commit() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pending_.empty()) return submitted_;
  if (fd_ < 0 && failure_.empty()) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) failure_ = "unable to open " + path_ + ": " + std::strerror(errno);
  }
  if (failure_.empty()) {
    handed_ += pending_;
    changed_.notify_all();
  }
  pending_.clear();  // during a failure: covered by the snapshot that ends it
  return ++submitted_;
}

std::uint64_t StateStore::durable() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return written_;
}

std::string StateStore::failure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failure_;
}

std::vector<RestoredInstance> StateStore::load() {
  // Unreadable is not empty: the compaction at start would replace it.
  std::string data;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) throw std::runtime_error("unable to read " + path_ + ": " + std::strerror(errno));
  for (char buffer[65536]; fd >= 0;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw std::runtime_error("unable to read " + path_ + ": " + why);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  if (fd >= 0) ::close(fd);
  JournalReplay replay;
  try {
    replay = replayJournal(data);
  } catch (const std::exception& e) {
    throw std::runtime_error("unable to replay " + path_ + ": " + e.what() +
                             "; it is left as it is (move it aside to start with an empty state)");
  }
  if (!replay.damaged.empty()) {
    const std::string copy = keepDamagedCopy();
    std::size_t logged = 0;
    for (const auto& record : replay.damaged) {
      if (++logged > kMaxDamageLogged) break;
      log(sdk::LogLevel::Error, "unable to replay " + path_ + " line " + std::to_string(record.line) + " (" +
                                    record.why + "): skipped it; lost " + record.lost);
    }
    log(sdk::LogLevel::Error, "journal " + path_ + ": skipped " + std::to_string(replay.damaged.size()) +
                                  " damaged record(s), replayed " + std::to_string(replay.records) +
                                  "; the damaged journal is kept at " + copy);
  }
  if (replay.torn_bytes > 0) {
    log(sdk::LogLevel::Notice, "journal " + path_ + ": dropped a torn last record (" +
                                   std::to_string(replay.torn_bytes) + " bytes, never acknowledged)");
  }
  if (replay.version > 0 && replay.version < kFormatVersion) {
    log(sdk::LogLevel::Notice, "journal " + path_ + ": converting format " + std::to_string(replay.version) + " to " +
                                   std::to_string(kFormatVersion));
  }
  return std::move(replay.instances);
}

// journal.damaged.<UTC time>: names sort by age, the oldest beyond
// kKeptDamagedCopies are removed.
std::string StateStore::keepDamagedCopy() const {
  namespace fs = std::filesystem;
  const std::string prefix = "journal.damaged.";
  const std::string copy =
      path_ + ".damaged." + Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y%m%dT%H%M%S.%iZ");
  std::error_code ec;
  fs::copy_file(path_, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    fs::remove(copy, ec);
    throw std::runtime_error("unable to keep a copy of the damaged journal " + path_ + " at " + copy + ": " +
                             ec.message() + "; it is left as it is");
  }
  std::vector<std::string> copies;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) == 0) copies.push_back(entry.path().string());
  }
  std::sort(copies.begin(), copies.end());
  for (std::size_t k = 0; k + kKeptDamagedCopies < copies.size(); ++k) fs::remove(copies[k], ec);
  return copy;
}

void StateStore::compact(const Engine& engine) {
  // The syncer keeps off the file while it is replaced; what it was given
  // and has not written is in the snapshot.
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return !busy_; });
    paused_ = true;
  }
  std::string appended;
  appended.swap(pending_);
  const std::size_t appended_records = records_;
  Object header;
  header.set("v", kFormatVersion);
  pending_ = line(header);
  records_ = 0;
  for (const auto& [instance, drop_recurring] : engine.snapshot()) {
    registered(instance, drop_recurring);
    for (const auto& event : instance.last) reported(event);
    for (const auto& op : instance.recurring) recurringAdded(instance.id, op);
    // Still in flight (taken over at an upgrade): reported as interrupted if lrmd dies first.
    if (const auto& op = instance.running) started(instance.id, op->action, op->interval_ms, op->call_id, op->t_run);
  }
  std::string snapshot;
  snapshot.swap(pending_);
  // Write-then-rename: a crash leaves either the old journal or the new one.
  const std::string temporary = path_ + ".tmp";
  try {
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("unable to write " + temporary + ": " + std::strerror(errno));
    try {
      writeAll(fd, snapshot, temporary);
    } catch (...) {
      ::close(fd);
      throw;
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) throw std::runtime_error("unable to sync " + temporary + ": " + std::strerror(errno));
    if (::rename(temporary.c_str(), path_.c_str()) != 0) {
      throw std::runtime_error("unable to replace " + path_ + ": " + std::strerror(errno));
    }
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(temporary, ec);
    pending_.swap(appended);
    records_ = appended_records;
    compact_after_ = std::chrono::steady_clock::now() + kCompactionRetry;
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = false;
    changed_.notify_all();
    throw;
  }
  const int dir = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  snapshot_records_ = records_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    handed_.clear();
    failure_.clear();
    written_ = submitted_;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;  // the next commit() opens the new file
    paused_ = false;
    changed_.notify_all();
  }
  if (on_durable_) on_durable_();
}

bool StateStore::wantsCompaction() const {
  constexpr std::size_t kMinRecords = 10000;
  if (std::chrono::steady_clock::now() < compact_after_ || !failure().empty()) return false;
  return records_ - snapshot_records_ > std::max(kMinRecords, 2 * snapshot_records_);
}

void StateStore::append(const std::string& text) {
  pending_ += text;
  ++records_;
}

void StateStore::sync() {
  const std::uint64_t batch = commit();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return written_ >= batch || !failure_.empty(); });
  if (!failure_.empty()) throw std::runtime_error(failure_);
}

// A record: the envelope ("r", "id") and @p fields' fields but those flagged in @p omit.
// (The record's own id, if it has one, is the envelope's.)
template <class R>
std::string recordLine(const char* kind, const std::string& id, const R& fields, unsigned omit = 0) {
  std::string text = "{";
  json::appendKey(text, "r");
  json::appendString(text, kind);
  json::appendKey(text, "id");
  json::appendString(text, id);
  json::appendFields(fields, text, omit, "id");
  text += '}';
  return checksumOf(text) + " " + text + "\n";
}

void StateStore::registered(const InstanceView& instance, bool drop_recurring) {
  const protocol::RegisterRequest request{instance.id, instance.name, instance.agent.toString(), instance.params,
                                          drop_recurring};
  append(recordLine("reg", instance.id, request));
}

void StateStore::unregistered(const std::string& id) {
  Object record;
  record.set("r", std::string("unreg"));
  record.set("id", id);
  append(line(record));
}

void StateStore::started(const std::string& id, const std::string& action, std::uint64_t interval_ms,
                         sdk::CallId call_id, std::int64_t t_run) {
  ExecEvent event;
  event.type = "exec";
  event.id = id;
  event.action = action;
  event.interval_ms = interval_ms;
  event.call_id = call_id;
  event.t_run = t_run;
  append(recordLine("run", id, event, protocol::kOutcome));
}

void StateStore::recurringAdded(const std::string& id, const OpView& op) { append(recordLine("rec+", id, op)); }

void StateStore::recurringRemoved(const std::string& id, const std::string& action, std::uint64_t interval_ms) {
  OpView op;
  op.action = action;
  op.interval_ms = interval_ms;
  append(recordLine("rec-", id, op));
}

void StateStore::reported(const ExecEvent& event) { append(recordLine("res", event.id, event)); }

}  // namespace lrm::kernel

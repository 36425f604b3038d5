// The journal (see state_store.hpp). One JSON object per line:
//   {"v":1}                                   first line: format version
//   {"r":"reg","id","name","agent","params":{},"drop":bool}
//   {"r":"unreg","id"}
//   {"r":"run","id","action","interval","call","t_run"}   an op was launched
//   {"r":"res","id","action","interval","call","rc","status","reason","exec","queue","t_run"}
//   {"r":"rec+","id","action","interval","call","timeout","params":{},"changes"}  recurring op active
//   {"r":"rec-","id","action","interval"}                                      recurring op ended
#include "state_store.hpp"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "json_params.hpp"
#include "log.hpp"

namespace lrm::kernel {
namespace {

constexpr int kFormatVersion = 1;
using Poco::JSON::Object;

std::string line(const Object& object) {
  std::ostringstream out;
  Poco::JSON::Stringifier::condense(object, out);
  return out.str() + "\n";
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

ExecEvent eventOf(const Object& record) {
  ExecEvent event;
  event.instance_id = record.getValue<std::string>("id");
  event.action = record.getValue<std::string>("action");
  event.interval_ms = record.getValue<std::uint64_t>("interval");
  event.call_id = record.getValue<std::uint64_t>("call");
  event.t_run = record.getValue<std::int64_t>("t_run");
  if (record.has("rc")) {
    event.result.rc = record.getValue<int>("rc");
    event.result.status =
        sdk::parseExecStatus(record.getValue<std::string>("status")).value_or(sdk::ExecStatus::Error);
    event.result.exit_reason = record.getValue<std::string>("reason");
    event.exec_ms = record.getValue<std::uint64_t>("exec");
    event.queue_ms = record.getValue<std::uint64_t>("queue");
  }
  return event;
}

}  // namespace

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
    changed_.wait(lock, [this] { return stopping_ || !handed_.empty(); });
    if (handed_.empty()) return;  // stopping, nothing left
    std::string bytes;
    bytes.swap(handed_);
    const std::uint64_t batch = submitted_;
    const int fd = fd_;
    lock.unlock();
    std::string error;
    try {
      writeAll(fd, bytes, path_);
      if (::fdatasync(fd) != 0) throw std::runtime_error("unable to sync " + path_ + ": " + std::strerror(errno));
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    if (!error.empty() && failure_.empty()) failure_ = error;
    written_ = batch;
    changed_.notify_all();
    if (on_durable_) on_durable_();
  }
}

std::uint64_t StateStore::commit() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pending_.empty()) return submitted_;
  if (fd_ < 0) openForAppend();
  handed_ += pending_;
  pending_.clear();
  ++submitted_;
  changed_.notify_all();
  return submitted_;
}

std::uint64_t StateStore::durable() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failure_.empty()) throw std::runtime_error(failure_);
  return written_;
}

void StateStore::openForAppend() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("unable to open " + path_ + ": " + std::strerror(errno));
}

std::vector<RestoredInstance> StateStore::load() {
  std::map<std::string, RestoredInstance> instances;
  std::map<std::string, std::map<std::pair<std::string, std::uint64_t>, ExecEvent>> last;
  std::map<std::string, std::map<sdk::CallId, ExecEvent>> running;
  std::map<std::string, std::map<std::pair<std::string, std::uint64_t>, OpView>> recurring;
  std::ifstream in(path_, std::ios::binary);
  std::string text;
  std::size_t good = 0;  // bytes of complete, valid records
  std::size_t number = 0;
  Poco::JSON::Parser parser;
  while (std::getline(in, text)) {
    ++number;
    if (in.eof()) break;  // a last line without its newline is torn
    try {
      parser.reset();
      const auto record = parser.parse(text).extract<Object::Ptr>();
      if (number == 1) {
        if (record->getValue<int>("v") > kFormatVersion) {
          throw std::runtime_error("journal format " + record->getValue<std::string>("v") + " is newer than " +
                                   std::to_string(kFormatVersion));
        }
      } else {
        const std::string kind = record->getValue<std::string>("r");
        const std::string id = record->getValue<std::string>("id");
        if (kind == "reg") {
          RestoredInstance& instance = instances[id];
          instance.id = id;
          instance.name = record->getValue<std::string>("name");
          instance.agent = record->getValue<std::string>("agent");
          instance.drop_recurring = record->getValue<bool>("drop");
          instance.params = paramsFromJson(record->getObject("params"));
        } else if (kind == "unreg") {
          instances.erase(id);
          last.erase(id);
          running.erase(id);
          recurring.erase(id);
        } else if (kind == "run") {
          const ExecEvent event = eventOf(*record);
          running[id][event.call_id] = event;
        } else if (kind == "rec+") {
          OpView op;
          op.action = record->getValue<std::string>("action");
          op.interval_ms = record->getValue<std::uint64_t>("interval");
          op.call_id = record->getValue<std::uint64_t>("call");
          op.timeout_ms = record->getValue<std::uint64_t>("timeout");
          op.changes_only = record->getValue<bool>("changes");
          op.params = paramsFromJson(record->getObject("params"));
          recurring[id][{op.action, op.interval_ms}] = op;
        } else if (kind == "rec-") {
          recurring[id].erase({record->getValue<std::string>("action"), record->getValue<std::uint64_t>("interval")});
        } else if (kind == "res") {
          const ExecEvent event = eventOf(*record);
          running[id].erase(event.call_id);
          last[id][{event.action, event.interval_ms}] = event;
        }
      }
    } catch (const std::exception& e) {
      if (number == 1 && std::string(e.what()).find("newer") != std::string::npos) throw;
      log(sdk::LogLevel::Warning, "journal " + path_ + ": record " + std::to_string(number) + " is corrupt (" +
                                      e.what() + "); truncating the journal to the " + std::to_string(number - 1) +
                                      " records before it");
      break;
    }
    good += text.size() + 1;
  }
  in.close();
  std::error_code ec;
  const auto size = std::filesystem::file_size(path_, ec);
  if (!ec && size > good) {
    if (good == 0 || ::truncate(path_.c_str(), static_cast<off_t>(good)) != 0) std::filesystem::remove(path_, ec);
    log(sdk::LogLevel::Warning, "journal " + path_ + ": cut " + std::to_string(size - good) +
                                    " bytes of a torn or corrupt tail");
  }
  std::vector<RestoredInstance> result;
  for (auto& [id, instance] : instances) {
    for (auto& [key, event] : last[id]) instance.last.push_back(event);
    std::sort(instance.last.begin(), instance.last.end(),
              [](const ExecEvent& a, const ExecEvent& b) { return a.call_id < b.call_id; });
    for (auto& [call, event] : running[id]) instance.interrupted.push_back(event);
    for (auto& [key, op] : recurring[id]) instance.recurring.push_back(op);
    result.push_back(std::move(instance));
  }
  return result;
}

void StateStore::compact(const Engine& engine) {
  sync();
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
  // Write-then-rename: a crash leaves either the old journal or the new one.
  const std::string temporary = path_ + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("unable to write " + temporary + ": " + std::strerror(errno));
  writeAll(fd, pending_, temporary);
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temporary.c_str(), path_.c_str()) != 0) {
    throw std::runtime_error("unable to replace " + path_ + ": " + std::strerror(errno));
  }
  const int dir = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  pending_.clear();
  snapshot_records_ = records_;
  openForAppend();
}

bool StateStore::wantsCompaction() const {
  constexpr std::size_t kMinRecords = 10000;
  return records_ - snapshot_records_ > std::max(kMinRecords, 2 * snapshot_records_);
}

void StateStore::append(const std::string& text) {
  pending_ += text;
  ++records_;
}

void StateStore::sync() {
  const std::uint64_t batch = commit();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return written_ >= batch; });
  if (!failure_.empty()) throw std::runtime_error(failure_);
}

void StateStore::registered(const InstanceView& instance, bool drop_recurring) {
  Object record;
  record.set("r", "reg");
  record.set("id", instance.id);
  record.set("name", instance.name);
  record.set("agent", instance.agent.toString());
  record.set("params", paramsJson(instance.params));
  record.set("drop", drop_recurring);
  append(line(record));
}

void StateStore::unregistered(const std::string& id) {
  Object record;
  record.set("r", "unreg");
  record.set("id", id);
  append(line(record));
}

void StateStore::started(const std::string& id, const std::string& action, std::uint64_t interval_ms,
                         sdk::CallId call_id, std::int64_t t_run) {
  Object record;
  record.set("r", "run");
  record.set("id", id);
  record.set("action", action);
  record.set("interval", interval_ms);
  record.set("call", call_id);
  record.set("t_run", t_run);
  append(line(record));
}

void StateStore::recurringAdded(const std::string& id, const OpView& op) {
  Object record;
  record.set("r", "rec+");
  record.set("id", id);
  record.set("action", op.action);
  record.set("interval", op.interval_ms);
  record.set("call", op.call_id);
  record.set("timeout", op.timeout_ms);
  record.set("params", paramsJson(op.params));
  record.set("changes", op.changes_only);
  append(line(record));
}

void StateStore::recurringRemoved(const std::string& id, const std::string& action, std::uint64_t interval_ms) {
  Object record;
  record.set("r", "rec-");
  record.set("id", id);
  record.set("action", action);
  record.set("interval", interval_ms);
  append(line(record));
}

void StateStore::reported(const ExecEvent& event) {
  Object record;
  record.set("r", "res");
  record.set("id", event.instance_id);
  record.set("action", event.action);
  record.set("interval", event.interval_ms);
  record.set("call", event.call_id);
  record.set("t_run", event.t_run);
  record.set("rc", event.result.rc);
  record.set("status", std::string(sdk::toString(event.result.status)));
  record.set("reason", event.result.exit_reason);
  record.set("exec", event.exec_ms);
  record.set("queue", event.queue_ms);
  append(line(record));
}

}  // namespace lrm::kernel

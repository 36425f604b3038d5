// Persistent state (DESIGN §5): an append-only journal of JSON lines in the
// state directory. Records are appended as things happen and made durable
// (write + fdatasync) once per loop iteration, before any client is told
// (group commit: Server::flushAll() calls sync() first). At start the
// journal is replayed; a torn or corrupt tail is cut off and logged, and the
// journal is rewritten as a compact snapshot (write-then-rename).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine.hpp"

namespace lrm::kernel {

/** An instance as restored from the journal. */
struct RestoredInstance {
  std::string id;
  std::string name;
  std::string agent;
  sdk::Params params;
  bool drop_recurring = false;
  std::vector<ExecEvent> last;                 ///< oldest first
  std::vector<ExecEvent> interrupted;          ///< ops in flight when the daemon died
  std::vector<OpView> recurring;               ///< recurring ops active when it died
};

class StateStore : public Journal {
 public:
  /** @throws std::runtime_error when the directory cannot be used. */
  explicit StateStore(std::string dir);
  ~StateStore() override;

  /** Replay the journal (repairing a bad tail). */
  std::vector<RestoredInstance> load();
  /** Rewrite the journal as a snapshot of @p engine's state. */
  void compact(const Engine& engine);
  /**
   * Has the journal grown enough since the last snapshot to be compacted
   * again? (More records appended than max(10,000, 2 × the snapshot's): the
   * rewrite costs O(snapshot), so its cost per record stays constant.)
   */
  bool wantsCompaction() const;
  /** Make everything appended so far durable. */
  void sync();

  void registered(const InstanceView& instance, bool drop_recurring) override;
  void unregistered(const std::string& id) override;
  void started(const std::string& id, const std::string& action, std::uint64_t interval_ms, sdk::CallId call_id,
               std::int64_t t_run) override;
  void reported(const ExecEvent& event) override;
  void recurringAdded(const std::string& id, const OpView& op) override;
  void recurringRemoved(const std::string& id, const std::string& action, std::uint64_t interval_ms) override;

 private:
  void append(const std::string& line);
  void openForAppend();

  std::string dir_;
  std::string path_;
  int fd_ = -1;
  std::string pending_;
  std::size_t records_ = 0;           // in the journal file (snapshot included)
  std::size_t snapshot_records_ = 0;  // of those, written by the last compaction
};

}  // namespace lrm::kernel

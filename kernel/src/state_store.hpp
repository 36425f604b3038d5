// Persistent state (DESIGN §5): an append-only journal of JSON lines in the
// state directory. Records are appended as things happen; at the end of each
// loop iteration commit() hands them to a syncer thread (write + fdatasync)
// and the server holds that iteration's replies and events until the batch
// is durable (group commit, pipelined: the loop goes on spawning and reaping
// meanwhile). At start the journal is replayed; a torn or corrupt tail is cut
// off and logged, and the journal is rewritten as a compact snapshot
// (write-then-rename), again whenever it has grown enough.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
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
  /**
   * @param durable called on the syncer thread after each batch is durable
   * (the daemon posts it to the loop). @throws std::runtime_error when the
   * directory cannot be used.
   */
  explicit StateStore(std::string dir, std::function<void()> durable = {});
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
  /** Make everything appended so far durable, now (waits for the syncer). */
  void sync();
  /**
   * Start making everything appended so far durable, on the syncer thread.
   * @return the batch that covers it; durable() reaches it when it is on disk.
   */
  std::uint64_t commit();
  /** The last batch on disk. @throws std::runtime_error if the syncer failed. */
  std::uint64_t durable() const;

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
  void syncerLoop();

  std::string dir_;
  std::string path_;
  int fd_ = -1;
  std::string pending_;
  std::function<void()> on_durable_;
  // Shared with the syncer thread, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string handed_;            // bytes for the syncer to write
  std::uint64_t submitted_ = 0;   // last batch handed over
  std::uint64_t written_ = 0;     // last batch on disk
  std::string failure_;           // the syncer's error, if any
  bool stopping_ = false;
  std::thread syncer_;
  std::size_t records_ = 0;           // in the journal file (snapshot included)
  std::size_t snapshot_records_ = 0;  // of those, written by the last compaction
};

}  // namespace lrm::kernel

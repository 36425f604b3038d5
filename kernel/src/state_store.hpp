// Persistent state: an append-only journal of checksummed JSON lines in the
// state directory. Records are appended as things happen; at the end of each
// loop iteration commit() hands them to a syncer thread (write + fdatasync)
// and the server holds that iteration's replies and events until the batch
// is durable (group commit, pipelined: the loop goes on spawning and reaping
// meanwhile). At start the journal is replayed: a torn last record is
// dropped, a damaged record elsewhere is skipped (the damaged file is copied
// aside first), and the journal is rewritten as a compact snapshot
// (write-then-rename), again whenever it has grown enough. When the journal
// cannot be written (a full disk) the store says so (failure()) and writes
// nothing until a snapshot succeeds again (compact()).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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

/** A journal record that replay could not use. */
struct DamagedRecord {
  std::size_t line = 0;  ///< 1-based
  std::string why;       ///< e.g. "checksum mismatch"
  std::string lost;      ///< what it held as far as readable, e.g. "a 'reg' record of instance 'web-5'"
};

/** What replaying a journal's bytes found. */
struct JournalReplay {
  int version = 0;  ///< of the file's format (0: empty file)
  std::vector<RestoredInstance> instances;
  std::size_t records = 0;             ///< records applied (header not counted)
  std::vector<DamagedRecord> damaged;  ///< skipped complete lines
  std::size_t torn_bytes = 0;          ///< a last line without its newline (a crash while appending)
};

/** A journal of a format newer than this lrmd's (written by a later release). */
class NewerJournalError : public std::runtime_error {
 public:
  NewerJournalError(int version, const std::string& message) : std::runtime_error(message), version_(version) {}
  int version() const noexcept { return version_; }

 private:
  int version_;
};

/**
 * Replay a journal (format 1, 2 or 3) from its bytes. Pure: no I/O, no logging,
 * so that a fuzzer can drive it. A damaged record is skipped and replay goes
 * on. @throws std::runtime_error when nothing in it can be trusted: the first
 * line is not a readable header of a known format (NewerJournalError: of a
 * later format).
 */
JournalReplay replayJournal(std::string_view data);

class StateStore : public Journal {
 public:
  /**
   * @param durable called on the syncer thread after each batch is durable
   * (the daemon posts it to the loop). @throws std::runtime_error when the
   * directory cannot be used.
   */
  explicit StateStore(std::string dir, std::function<void()> durable = {});
  ~StateStore() override;

  /**
   * Replay the journal, logging what was damaged or torn; a damaged journal
   * is first copied aside (journal.damaged.<UTC time>, the newest
   * kKeptDamagedCopies kept). @throws std::runtime_error when it cannot be
   * read or trusted at all (see replayJournal()) or the copy cannot be made.
   */
  std::vector<RestoredInstance> load();
  /**
   * Rewrite the journal as a snapshot of @p engine's state (write-then-rename).
   * Everything committed so far is durable once it returns, and a failure()
   * is over. @throws std::runtime_error when the snapshot cannot be written:
   * the old journal stays, the temporary file is removed.
   */
  void compact(const Engine& engine);
  /**
   * Has the journal grown enough since the last snapshot to be compacted
   * again? (More records appended than max(10,000, 2 × the snapshot's): the
   * rewrite costs O(snapshot), so its cost per record stays constant.) Not
   * within a second of a failed compaction, nor while failure() holds.
   */
  bool wantsCompaction() const;
  /** Make everything appended so far durable, now (waits for the syncer). @throws std::runtime_error on failure(). */
  void sync();
  /**
   * Start making everything appended so far durable, on the syncer thread.
   * @return the batch that covers it; durable() reaches it when it is on disk.
   */
  std::uint64_t commit();
  /** The last batch on disk. */
  std::uint64_t durable() const;
  /**
   * Why the journal cannot be written ("" while it can): set when a write or
   * sync fails; until a compact() succeeds nothing more is written and no
   * batch becomes durable.
   */
  std::string failure() const;
  const std::string& path() const { return path_; }

  /** How many copies of damaged journals are kept. */
  static constexpr std::size_t kKeptDamagedCopies = 5;

  void registered(const InstanceView& instance, bool drop_recurring) override;
  void unregistered(const std::string& id) override;
  void started(const std::string& id, const std::string& action, std::uint64_t interval_ms, sdk::CallId call_id,
               std::int64_t t_run) override;
  void reported(const ExecEvent& event) override;
  void recurringAdded(const std::string& id, const OpView& op) override;
  void recurringRemoved(const std::string& id, const std::string& action, std::uint64_t interval_ms) override;

 private:
  void append(const std::string& line);
  void syncerLoop();
  std::string keepDamagedCopy() const;

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
  std::string failure_;           // why the journal cannot be written, if it cannot
  bool busy_ = false;             // the syncer is writing
  bool paused_ = false;           // a compaction is replacing the file
  bool stopping_ = false;
  std::thread syncer_;
  std::size_t records_ = 0;           // in the journal file (snapshot included)
  std::size_t snapshot_records_ = 0;  // of those, written by the last compaction
  std::chrono::steady_clock::time_point compact_after_;  // not before: the last compaction failed
};

}  // namespace lrm::kernel

// One lrmd per state directory: an exclusive flock() on STATE_DIR/lock, taken
// before anything in the directory is read and held for the life of the
// process. The kernel drops it when the process dies (kill -9 included). An
// upgrade in place keeps it: the locked descriptor stays open across execv()
// and its number travels in LRM_STATE_LOCK_FD, so the new image (same pid)
// finds that it already holds the lock.
#pragma once

#include <string>

namespace lrm::kernel {

/** The environment variable naming the inherited lock descriptor after an exec(). */
constexpr const char* kStateLockEnv = "LRM_STATE_LOCK_FD";

class StateDirLock {
 public:
  /**
   * Lock @p dir (created with mode 0700 if missing), or adopt the lock this
   * process inherited across an exec(). The lock file holds the holder's pid.
   * @throws std::runtime_error naming the holder's pid when another process
   * holds the lock, or saying why the directory cannot be locked.
   */
  explicit StateDirLock(const std::string& dir);
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

  /**
   * Before an execv() that replaces this image (@p keep true): leave the
   * descriptor open across it and name it in kStateLockEnv. After the exec
   * failed (@p keep false): undo that, so agents never inherit it.
   */
  void keepAcrossExec(bool keep);

 private:
  bool adoptInherited();

  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace lrm::kernel

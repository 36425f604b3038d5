// The state directory's lock (see state_dir_lock.hpp).
#include "state_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace lrm::kernel {

StateDirLock::StateDirLock(const std::string& dir) : dir_(dir), path_(dir + "/lock") {
  if (adoptInherited()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("unable to create state directory " + dir_ + ": " + ec.message());
  ::chmod(dir_.c_str(), 0700);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("unable to lock state directory " + dir_ + ": " + path_ + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK) {
      throw std::runtime_error("unable to lock state directory " + dir_ + ": " + path_ + ": " + std::strerror(error));
    }
    std::string holder;
    std::ifstream(path_) >> holder;
    if (holder.empty() || holder.find_first_not_of("0123456789") != std::string::npos) holder = "unknown";
    throw std::runtime_error("state directory " + dir_ + " is in use by lrmd pid " + holder +
                             " (it holds " + path_ + "); stop it or give this lrmd another --state-dir");
  }
  // Only for the message above: the lock itself is the kernel's, so a stale
  // pid in the file (a killed holder) never blocks anyone. A full disk may
  // refuse these few bytes; the lock holds anyway.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    (void)!::ftruncate(fd_, 0);
  }
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

// After an upgrade in place: the previous image's descriptor, if it is still
// open and is this directory's lock file. flock() on the same open file
// description that holds the lock succeeds at once.
bool StateDirLock::adoptInherited() {
  const char* text = std::getenv(kStateLockEnv);
  if (!text) return false;
  const std::string value = text;
  ::unsetenv(kStateLockEnv);
  if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos) return false;
  const int fd = std::stoi(value);
  struct stat held {};
  struct stat file {};
  if (::fstat(fd, &held) != 0 || ::stat(path_.c_str(), &file) != 0 || held.st_dev != file.st_dev ||
      held.st_ino != file.st_ino || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return false;
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  fd_ = fd;
  return true;
}

void StateDirLock::keepAcrossExec(bool keep) {
  if (fd_ < 0) return;
  ::fcntl(fd_, F_SETFD, keep ? 0 : FD_CLOEXEC);
  if (keep) {
    ::setenv(kStateLockEnv, std::to_string(fd_).c_str(), 1);
  } else {
    ::unsetenv(kStateLockEnv);
  }
}

}  // namespace lrm::kernel

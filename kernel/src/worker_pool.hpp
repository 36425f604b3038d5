// Worker threads for blocking work (native agents). A job runs on a worker;
// its continuation is posted back to the event loop, which stays the only
// thread that touches kernel state.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "event_loop.hpp"

namespace lrm::kernel {

class WorkerPool {
 public:
  WorkerPool(EventLoop& loop, std::size_t threads);
  /** Joins idle workers; a worker stuck in a job that never returns is left detached. */
  ~WorkerPool();

  /** Run @p job on a worker, then @p then on the loop. */
  void submit(std::function<void()> job, std::function<void()> then);

 private:
  struct Shared {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::pair<std::function<void()>, std::function<void()>>> jobs;
    bool stopping = false;
    std::size_t busy = 0;
  };
  static void run(std::shared_ptr<Shared> shared, EventLoop* loop);

  EventLoop& loop_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
};

}  // namespace lrm::kernel

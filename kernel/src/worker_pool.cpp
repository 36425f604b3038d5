// A fixed pool of worker threads (see worker_pool.hpp).
#include "worker_pool.hpp"

#include <chrono>

namespace lrm::kernel {

WorkerPool::WorkerPool(EventLoop& loop, std::size_t threads) : loop_(loop), shared_(std::make_shared<Shared>()) {
  // Workers must not take the signals the loop reads through signalfd: the
  // mask is inherited from the loop thread, which blocks them.
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back(run, shared_, &loop_);
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stopping = true;
    shared_->jobs.clear();
  }
  shared_->wake.notify_all();
  // Give running jobs a moment to see their cancellation, then leave any
  // worker that is still stuck (an agent ignoring its token) detached: the
  // process is exiting and must not hang on it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    if (shared_->busy == 0) break;
    std::this_thread::yield();
  }
  bool stuck = false;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    stuck = shared_->busy > 0;
  }
  for (auto& thread : threads_) {
    if (stuck) {
      thread.detach();
    } else {
      thread.join();
    }
  }
}

void WorkerPool::submit(std::function<void()> job, std::function<void()> then) {
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->jobs.emplace_back(std::move(job), std::move(then));
  }
  shared_->wake.notify_one();
}

void WorkerPool::run(std::shared_ptr<Shared> shared, EventLoop* loop) {
  while (true) {
    std::pair<std::function<void()>, std::function<void()>> next;
    {
      std::unique_lock<std::mutex> lock(shared->mutex);
      shared->wake.wait(lock, [&] { return shared->stopping || !shared->jobs.empty(); });
      if (shared->stopping) return;
      next = std::move(shared->jobs.front());
      shared->jobs.pop_front();
      ++shared->busy;
    }
    next.first();
    {
      std::lock_guard<std::mutex> lock(shared->mutex);
      --shared->busy;
      if (shared->stopping) return;  // the loop may be gone: drop the continuation
      loop->postFromAnyThread(std::move(next.second));
    }
  }
}

}  // namespace lrm::kernel

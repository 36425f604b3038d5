// Unit tests for the worker pool (kernel/src/worker_pool.{hpp,cpp}): jobs run
// on the workers and their continuations on the loop thread. Run under
// ThreadSanitizer by tests/tsan.sh, where a continuation touching loop state
// off the loop thread is a reported race.
#include "worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace lrm::kernel {
namespace {

TEST(WorkerPoolTest, JobsRunOnWorkersAndContinuationsOnTheLoop) {
  constexpr int kJobs = 2000;
  EventLoop loop;
  WorkerPool pool(loop, 4);
  const auto loop_thread = std::this_thread::get_id();
  std::atomic<int> off_loop{0};
  std::atomic<int> jobs_run{0};
  int continued = 0;  // loop thread only
  bool continuations_on_loop = true;
  for (int i = 0; i < kJobs; ++i) {
    pool.submit(
        [&] {
          if (std::this_thread::get_id() != loop_thread) ++off_loop;
          ++jobs_run;
        },
        [&] {
          continuations_on_loop = continuations_on_loop && std::this_thread::get_id() == loop_thread;
          if (++continued == kJobs) loop.stop();
        });
  }
  bool expired = false;
  loop.addTimer(Millis(60000), [&] {
    expired = true;
    loop.stop();
  });
  loop.run();
  EXPECT_FALSE(expired) << "only " << continued << " of " << kJobs << " continuations ran";
  EXPECT_EQ(jobs_run, kJobs);
  EXPECT_EQ(off_loop, kJobs);
  EXPECT_EQ(continued, kJobs);
  EXPECT_TRUE(continuations_on_loop);
}

}  // namespace
}  // namespace lrm::kernel

// Host::watch (ABI 1.2): a plugin's own descriptor watched by the kernel's
// loop, through HostServices on a real EventLoop and a real pipe.
#include "host_services.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace lrm::kernel {
namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0); }
  ~Pipe() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
};

class HostWatchTest : public ::testing::Test {
 protected:
  HostWatchTest() : spawner_(loop_, {}), workers_(loop_, 1), host_(loop_, spawner_, workers_, {}) {}

  // Run the loop until a callback stops it, with a safety deadline.
  void run() {
    bool expired = false;
    const TimerId guard = loop_.addTimer(Millis(30000), [&] {
      expired = true;
      loop_.stop();
    });
    loop_.run();
    loop_.cancelTimer(guard);
    EXPECT_FALSE(expired) << "no callback stopped the loop";
  }

  EventLoop loop_;
  Spawner spawner_;
  WorkerPool workers_;
  HostServices host_;
};

TEST_F(HostWatchTest, ReadableThenWritableThenNothingAfterUnwatch) {
  Pipe pipe;
  std::vector<std::uint32_t> seen;
  const auto id = host_.watch(pipe.fds[0], sdk::Host::kReadable, [&](std::uint32_t ready) {
    seen.push_back(ready);
    loop_.stop();
  });
  ASSERT_NE(id, 0u);
  ASSERT_EQ(::write(pipe.fds[1], "x", 1), 1);
  run();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], sdk::Host::kReadable);

  // The write end, watched for writing: a pipe with room is writable at once.
  const auto writer = host_.watch(pipe.fds[1], sdk::Host::kReadable, [&](std::uint32_t ready) {
    seen.push_back(ready);
    loop_.stop();
  });
  ASSERT_NE(writer, 0u);
  host_.unwatch(id);
  host_.changeWatch(writer, sdk::Host::kWritable);
  run();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], sdk::Host::kWritable);

  // Unwatched: the still-readable read end and the writable write end call nobody.
  host_.unwatch(writer);
  EXPECT_EQ(host_.watchCount(), 0u);
  loop_.addTimer(Millis(20), [&] { loop_.stop(); });
  run();
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(HostWatchTest, AHangUpIsReportedWhateverWasAsked) {
  Pipe pipe;
  std::uint32_t seen = 0;
  const auto id = host_.watch(pipe.fds[0], sdk::Host::kReadable, [&](std::uint32_t ready) {
    seen = ready;
    loop_.stop();
  });
  ::close(pipe.fds[1]);
  pipe.fds[1] = -1;
  run();
  EXPECT_TRUE(seen & sdk::Host::kHangUp);
  host_.unwatch(id);
}

TEST_F(HostWatchTest, ADescriptorThatCannotBeWatchedGivesZero) {
  Pipe pipe;
  EXPECT_EQ(host_.watch(-1, sdk::Host::kReadable, [](std::uint32_t) {}), 0u);
  const auto id = host_.watch(pipe.fds[0], sdk::Host::kReadable, [](std::uint32_t) {});
  ASSERT_NE(id, 0u);
  EXPECT_EQ(host_.watch(pipe.fds[0], sdk::Host::kReadable, [](std::uint32_t) {}), 0u);  // already watched
  host_.unwatch(id);
  host_.unwatch(id);      // again: ignored
  host_.changeWatch(id, sdk::Host::kWritable);  // unknown: ignored
}

}  // namespace
}  // namespace lrm::kernel

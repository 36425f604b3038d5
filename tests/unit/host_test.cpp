// Unit tests for the helpers of the SDK's Host header
// (sdk/include/lrm/sdk/host.hpp): splitPath, which every ":"-separated
// directory list (lrmd's plugin-dir, the plugins' search paths) goes through.
#include "lrm/sdk/host.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lrm::sdk {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SplitPath, SplitsAtColons) {
  EXPECT_THAT(splitPath("/a:/b/c:d"), ElementsAre("/a", "/b/c", "d"));
  EXPECT_THAT(splitPath("/only"), ElementsAre("/only"));
}

TEST(SplitPath, DropsEmptyParts) {
  EXPECT_THAT(splitPath(""), IsEmpty());
  EXPECT_THAT(splitPath(":"), IsEmpty());
  EXPECT_THAT(splitPath("::/a:::/b:"), ElementsAre("/a", "/b"));
}

}  // namespace
}  // namespace lrm::sdk

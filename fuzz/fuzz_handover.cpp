// Fuzzes the upgrade's handover reader (parseHandover(), handover.hpp): the
// new image reads what the old one wrote into the state directory, and
// whatever bytes the file holds, reading either gives a Handover or refuses
// with std::runtime_error (the upgrade then falls back to the journal); it
// never crashes.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "handover.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    lrm::kernel::parseHandover(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const std::runtime_error&) {
    // refused: not a handover of this format
  }
  return 0;
}

// Fuzzes the journal's replay (replayJournal(), state_store.hpp): whatever
// bytes the state directory's journal holds, replay either restores what is
// sound (skipping damaged lines) or refuses with std::runtime_error; it never
// crashes, and every complete line is either applied or reported damaged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "state_store.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto replay = lrm::kernel::replayJournal(bytes);
    std::size_t lines = 0;
    for (const char c : bytes) lines += c == '\n';
    if (lines > 0 && replay.records + replay.damaged.size() != lines - 1) std::abort();
    for (const auto& record : replay.damaged) {
      if (record.line < 2 || record.line > lines || record.why.empty() || record.lost.empty()) std::abort();
    }
  } catch (const std::runtime_error&) {
    // refused: an unreadable header or a newer format
  }
  return 0;
}

// A journal that cannot be written: refuse changes, retry, release (see journal_outage.hpp).
#include "journal_outage.hpp"

#include "engine.hpp"
#include "log.hpp"
#include "state_store.hpp"

namespace lrm::kernel {

void JournalOutage::check() {
  if (since_ || store_.failure().empty()) return;
  since_ = Clock::now();
  log(sdk::LogLevel::Error, store_.failure() + "; refusing changes until the journal can be written (reads are "
                                               "served, results are held), trying again every " +
                                std::to_string(kJournalRetry.count()) + " ms");
  loop_.addTimer(kJournalRetry, [this] { retry(); });
}

std::string JournalOutage::refusal() const {
  const std::string why = store_.failure();
  return why.empty() ? why : "the state directory cannot be written (" + why + "); changes are refused until it can";
}

std::uint64_t JournalOutage::commit() {
  check();
  if (store_.wantsCompaction()) {
    const auto start = Clock::now();
    try {
      store_.compact(engine_);  // waits for a write in progress, then rewrites
      log(sdk::LogLevel::Info, "journal compacted in " + std::to_string(msSince(start)) + " ms");
    } catch (const std::exception& e) {
      log(sdk::LogLevel::Warning, std::string("unable to compact the journal: ") + e.what() +
                                      "; the old journal is kept, trying again in a second");
    }
  }
  const std::uint64_t batch = store_.commit();
  check();
  return batch;
}

std::uint64_t JournalOutage::durable() const { return store_.durable(); }

void JournalOutage::retry() {
  try {
    store_.compact(engine_);
  } catch (const std::exception&) {
    loop_.addTimer(kJournalRetry, [this] { retry(); });
    return;
  }
  log(sdk::LogLevel::Notice, "journal " + store_.path() + " written again after " + std::to_string(msSince(*since_)) +
                                 " ms; changes are accepted, held results released");
  since_.reset();
}

}  // namespace lrm::kernel

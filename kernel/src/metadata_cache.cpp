// Metadata cache with fingerprint invalidation (see metadata_cache.hpp).
#include "metadata_cache.hpp"

namespace lrm::kernel {

void MetadataCache::get(sdk::ResourceClass& cls, const sdk::AgentSpec& agent, Done done) {
  const std::string key = agent.toString();
  const std::string fingerprint = cls.fingerprint(agent);
  if (!fingerprint.empty()) {
    const auto hit = entries_.find(key);
    if (hit != entries_.end() && hit->second.fingerprint == fingerprint) {
      sdk::Result ok;
      ok.status = sdk::ExecStatus::Done;
      ok.rc = sdk::rc::kOk;
      loop_.defer([done = std::move(done), ok, xml = hit->second.xml] { done(ok, xml); });
      return;
    }
  }
  auto& waiters = waiting_[key];
  waiters.push_back(std::move(done));
  if (waiters.size() > 1) return;  // joins the fetch in flight
  cls.metadata(agent, [this, key, fingerprint](const sdk::Result& result, const std::string& xml) {
    if (result.status == sdk::ExecStatus::Done && !fingerprint.empty()) {
      if (entries_.size() >= kMaxEntries) entries_.clear();  // bounded; refilled on demand
      entries_[key] = {fingerprint, xml};
    }
    std::vector<Done> waiters = std::move(waiting_[key]);
    waiting_.erase(key);
    for (auto& waiter : waiters) waiter(result, xml);
  });
}

}  // namespace lrm::kernel

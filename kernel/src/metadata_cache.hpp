// Agent metadata, fetched once per version of an agent: the plugin gives a
// fingerprint (its file's path, inode, size, mtime), and metadata is served
// from memory until the fingerprint changes. Requests for an agent whose
// metadata is being fetched wait for that one fetch instead of starting
// another. Like a plugin's (docs/sdk.md §3), the cache's callbacks come later
// from the loop, never from inside get(): a hit is deferred too.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "lrm/sdk/resource_class.hpp"

namespace lrm::kernel {

class MetadataCache {
 public:
  using Done = std::function<void(const sdk::Result& result, const std::string& xml)>;

  explicit MetadataCache(EventLoop& loop) : loop_(loop) {}

  /**
   * Metadata of @p agent: from the cache, from a fetch in flight, or fetched
   * now. @p done is called once, later, on the loop.
   */
  void get(sdk::ResourceClass& cls, const sdk::AgentSpec& agent, Done done);

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string fingerprint;
    std::string xml;
  };
  static constexpr std::size_t kMaxEntries = 4096;

  EventLoop& loop_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::vector<Done>> waiting_;  // fetches in flight
};

}  // namespace lrm::kernel

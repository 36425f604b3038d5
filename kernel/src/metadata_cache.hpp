// Agent metadata, fetched once per version of an agent: the plugin gives a
// fingerprint (its file's path, inode, size, mtime), and metadata is served
// from memory until the fingerprint changes. Requests for an agent whose
// metadata is being fetched wait for that one fetch instead of starting
// another.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lrm/sdk/resource_class.hpp"

namespace lrm::kernel {

class MetadataCache {
 public:
  using Done = std::function<void(const sdk::Result& result, const std::string& xml)>;

  /** Metadata of @p agent: from the cache, from a fetch in flight, or fetched now. */
  void get(sdk::ResourceClass& cls, const sdk::AgentSpec& agent, Done done);

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string fingerprint;
    std::string xml;
  };
  static constexpr std::size_t kMaxEntries = 4096;

  std::map<std::string, Entry> entries_;
  std::map<std::string, std::vector<Done>> waiting_;  // fetches in flight
};

}  // namespace lrm::kernel

// Metadata for agents that have none of their own (init scripts, systemd
// units): an OCF-shaped XML document made from what the class knows — a
// description, the actions with their default timeouts, and a <special>
// element of the class's own facts. One writer for every such class, so the
// documents differ only in what they say.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lrm::plugins {

struct MetadataOutline {
  std::string name;  ///< the agent's type
  std::string longdesc;
  std::string shortdesc;
  /// (action, default timeout), in order; `monitor` also gets monitor_interval.
  std::vector<std::pair<std::string, std::string>> actions;
  std::string monitor_interval;
  std::string special_tag;  ///< <special tag="...">
  /// (element, text) children of <special>, in order.
  std::vector<std::pair<std::string, std::string>> special;
};

/** The XML document (with its declaration) for @p outline; text is escaped. */
std::string synthesizeMetadata(const MetadataOutline& outline);

}  // namespace lrm::plugins

// Reads an agent's meta-data XML (OCF resource-agent API 1.0/1.1) into
// sdk::AgentMetadata, leniently: what real agents print is accepted, and
// nothing is loaded from a DOCTYPE.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lrm/sdk/metadata.hpp"

namespace lrm::kernel {

/** @return the parsed metadata, or nullopt with @p error (incl. the line). */
std::optional<sdk::AgentMetadata> parseMetadata(std::string_view xml, std::string& error);

}  // namespace lrm::kernel

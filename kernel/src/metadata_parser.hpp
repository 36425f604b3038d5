// Reads an agent's meta-data XML (OCF resource-agent API 1.0/1.1) into
// sdk::AgentMetadata, leniently: what real agents print is accepted, and
// nothing is loaded from a DOCTYPE.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <map>
#include <vector>

#include "lrm/sdk/metadata.hpp"

namespace lrm::kernel {

/** @return the parsed metadata, or nullopt with @p error (incl. the line). */
std::optional<sdk::AgentMetadata> parseMetadata(std::string_view xml, std::string& error);

/**
 * Problems of @p xml against the OCF 1.1 resource-agent API, as warnings:
 * missing required elements and attributes, unknown content types, defaults
 * and durations that do not match their type. Empty: none found. Advisory
 * only: agents real clusters use are never rejected for these.
 */
std::vector<std::string> checkMetadata(std::string_view xml);

/**
 * Problems of an instance's parameters against its agent's metadata:
 * unknown names, missing required ones, values outside a select or not of
 * the parameter's type. Advisory only.
 */
std::vector<std::string> checkParameters(const sdk::AgentMetadata& metadata,
                                         const std::map<std::string, std::string>& params);

}  // namespace lrm::kernel

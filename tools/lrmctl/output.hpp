// How lrmctl prints things: one line of text for people, or one JSON object
// per line (Poco::JSON) with the shapes documented in the README (lrmctl, `--json`).
#pragma once

#include <Poco/JSON/Object.h>

#include <string>
#include <vector>

#include "lrm/client/client.hpp"

namespace lrm::ctl {

Poco::JSON::Object::Ptr eventJson(const client::Event& event);
Poco::JSON::Object::Ptr instanceJson(const client::InstanceInfo& info);
Poco::JSON::Object::Ptr submittedJson(const std::string& id, const std::string& action,
                                      std::uint64_t interval_ms, sdk::CallId call_id);
Poco::JSON::Object::Ptr metadataJson(const sdk::AgentMetadata& metadata);
Poco::JSON::Object::Ptr pingJson(const client::PingInfo& info);
Poco::JSON::Object::Ptr listJson(const std::string& key, const std::vector<std::string>& items);

/** One JSON object on one line, flushed. */
void printJson(const Poco::JSON::Object::Ptr& object);

std::string eventText(const client::Event& event);
std::string instanceText(const client::InstanceInfo& info);
/** The `list` table, with a header line. */
std::string tableText(const std::vector<client::InstanceInfo>& instances);

}  // namespace lrm::ctl

// OCF meta-data XML → sdk::AgentMetadata with tinyxml2 (see metadata_parser.hpp).
#include "metadata_parser.hpp"

#include <strings.h>
#include <tinyxml2.h>

#include <algorithm>

namespace lrm::kernel {
namespace {

constexpr std::size_t kMaxMetadataBytes = 4 * 1024 * 1024;

std::string attr(const tinyxml2::XMLElement* element, const char* name) {
  const char* value = element ? element->Attribute(name) : nullptr;
  return value ? value : "";
}

bool flag(const tinyxml2::XMLElement* element, const char* name) {
  const std::string value = attr(element, name);
  return value == "1" || value == "true" || value == "yes";
}

std::string trimmed(const char* text) {
  if (!text) return {};
  std::string value(text);
  const auto begin = value.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  return value.substr(begin, value.find_last_not_of(" \t\r\n") - begin + 1);
}

// The English description if there is one, else the first.
std::string description(const tinyxml2::XMLElement* parent, const char* tag) {
  const tinyxml2::XMLElement* chosen = nullptr;
  for (auto* element = parent->FirstChildElement(tag); element; element = element->NextSiblingElement(tag)) {
    if (!chosen || attr(element, "lang") == "en") chosen = element;
  }
  return chosen ? trimmed(chosen->GetText()) : std::string();
}

bool isInteger(const std::string& text) {
  std::size_t i = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (i == text.size()) return false;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

bool isBoolean(const std::string& text) {
  static const char* const kValues[] = {"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n"};
  for (const char* value : kValues) {
    if (strcasecmp(text.c_str(), value) == 0) return true;
  }
  return false;
}

// "20s", "10", "1m", "20000ms", "1h", "5min": what Pacemaker accepts.
bool isDuration(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return false;
  const std::string unit = text.substr(digits);
  for (const char* known : {"", "s", "ms", "m", "min", "h", "hr", "us", "sec", "msec"}) {
    if (unit == known) return true;
  }
  return false;
}

bool knownType(const std::string& type) {
  for (const char* known : {"string", "integer", "boolean", "select", "second", "time", "nonnegative_integer",
                            "port", "timeout", "percentage", "epoch_time", "version", "duration"}) {
    if (type == known) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> checkMetadata(std::string_view xml) {
  std::vector<std::string> warnings;
  tinyxml2::XMLDocument document;
  if (xml.size() > kMaxMetadataBytes || document.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
    warnings.push_back(xml.size() > kMaxMetadataBytes ? "metadata is too large"
                                                        : std::string("malformed XML: ") + document.ErrorStr());
    return warnings;
  }
  const auto* root = document.RootElement();
  if (!root || std::string(root->Name()) != "resource-agent") {
    warnings.push_back("the root element is not <resource-agent>");
    return warnings;
  }
  if (attr(root, "name").empty()) warnings.push_back("<resource-agent> has no name");
  if (!root->FirstChildElement("version")) warnings.push_back("<version> (the OCF API version) is missing");
  if (!root->FirstChildElement("shortdesc")) warnings.push_back("no <shortdesc> for the agent");
  if (!root->FirstChildElement("longdesc")) warnings.push_back("no <longdesc> for the agent");
  const auto* parameters = root->FirstChildElement("parameters");
  if (!parameters) warnings.push_back("<parameters> is missing");
  std::map<std::string, int> seen;
  for (auto* p = parameters ? parameters->FirstChildElement("parameter") : nullptr; p;
       p = p->NextSiblingElement("parameter")) {
    const std::string name = attr(p, "name");
    const std::string where = "parameter '" + name + "'";
    if (name.empty()) warnings.push_back("a <parameter> has no name");
    if (++seen[name] == 2) warnings.push_back(where + " is defined more than once");
    for (const char* boolean : {"required", "unique", "reloadable"}) {
      const std::string value = attr(p, boolean);
      if (!value.empty() && value != "0" && value != "1") {
        warnings.push_back(where + ": " + boolean + "=\"" + value + "\" is not 0 or 1");
      }
    }
    if (!p->FirstChildElement("shortdesc")) warnings.push_back(where + " has no <shortdesc>");
    const auto* content = p->FirstChildElement("content");
    if (!content) {
      warnings.push_back(where + " has no <content>");
      continue;
    }
    const std::string type = attr(content, "type");
    const std::string fallback = attr(content, "default");
    if (!knownType(type)) warnings.push_back(where + ": unknown content type '" + type + "'");
    if (type == "integer" && !fallback.empty() && !isInteger(fallback)) {
      warnings.push_back(where + ": default '" + fallback + "' is not an integer");
    }
    if (type == "boolean" && !fallback.empty() && !isBoolean(fallback)) {
      warnings.push_back(where + ": default '" + fallback + "' is not a boolean");
    }
    if (type == "select" && !content->FirstChildElement("option")) {
      warnings.push_back(where + ": select without any <option>");
    }
  }
  const auto* actions = root->FirstChildElement("actions");
  if (!actions) warnings.push_back("<actions> is missing");
  for (auto* a = actions ? actions->FirstChildElement("action") : nullptr; a; a = a->NextSiblingElement("action")) {
    const std::string name = attr(a, "name");
    if (name.empty()) warnings.push_back("an <action> has no name");
    if (attr(a, "timeout").empty()) warnings.push_back("action '" + name + "' has no timeout");
    for (const char* duration : {"timeout", "interval", "start-delay"}) {
      const std::string value = attr(a, duration);
      if (!value.empty() && !isDuration(value)) {
        warnings.push_back("action '" + name + "': " + duration + " '" + value + "' is not a duration");
      }
    }
  }
  return warnings;
}

std::vector<std::string> checkParameters(const sdk::AgentMetadata& metadata,
                                         const std::map<std::string, std::string>& params) {
  std::vector<std::string> problems;
  std::map<std::string, const sdk::ParameterInfo*> known;
  for (const auto& parameter : metadata.parameters) known[parameter.name] = &parameter;
  for (const auto& [name, value] : params) {
    const auto it = known.find(name);
    if (it == known.end()) {
      if (name.rfind("CRM_meta_", 0) != 0 && name != "OCF_CHECK_LEVEL") {
        problems.push_back("parameter '" + name + "' is not one of the agent's");
      }
      continue;
    }
    const sdk::ParameterInfo& parameter = *it->second;
    if (parameter.type == "integer" && !isInteger(value)) {
      problems.push_back("parameter '" + name + "': '" + value + "' is not an integer");
    } else if (parameter.type == "boolean" && !isBoolean(value)) {
      problems.push_back("parameter '" + name + "': '" + value + "' is not a boolean");
    } else if (parameter.type == "select" && !parameter.values.empty() &&
               std::find(parameter.values.begin(), parameter.values.end(), value) == parameter.values.end()) {
      problems.push_back("parameter '" + name + "': '" + value + "' is not one of the allowed values");
    }
  }
  for (const auto& parameter : metadata.parameters) {
    if (parameter.required && !params.count(parameter.name)) {
      problems.push_back("required parameter '" + parameter.name + "' is missing");
    }
  }
  return problems;
}

std::optional<sdk::AgentMetadata> parseMetadata(std::string_view xml, std::string& error) {
  if (xml.size() > kMaxMetadataBytes) {
    error = "metadata of " + std::to_string(xml.size()) + " bytes is too large";
    return std::nullopt;
  }
  tinyxml2::XMLDocument document;
  if (document.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
    error = std::string("malformed metadata XML: ") + document.ErrorStr();
    return std::nullopt;
  }
  const auto* root = document.RootElement();
  if (!root || std::string(root->Name()) != "resource-agent") {
    error = "metadata root element is not <resource-agent>";
    return std::nullopt;
  }
  sdk::AgentMetadata metadata;
  metadata.name = attr(root, "name");
  const auto* version = root->FirstChildElement("version");
  metadata.version = version ? trimmed(version->GetText()) : attr(root, "version");
  metadata.shortdesc = description(root, "shortdesc");
  metadata.longdesc = description(root, "longdesc");
  if (const auto* parameters = root->FirstChildElement("parameters")) {
    for (auto* p = parameters->FirstChildElement("parameter"); p; p = p->NextSiblingElement("parameter")) {
      sdk::ParameterInfo parameter;
      parameter.name = attr(p, "name");
      parameter.required = flag(p, "required");
      parameter.unique = flag(p, "unique") || !attr(p, "unique-group").empty();
      parameter.reloadable = flag(p, "reloadable");
      parameter.deprecated = flag(p, "deprecated") || p->FirstChildElement("deprecated") != nullptr;
      parameter.shortdesc = description(p, "shortdesc");
      parameter.longdesc = description(p, "longdesc");
      if (const auto* content = p->FirstChildElement("content")) {
        parameter.type = attr(content, "type");
        parameter.default_value = attr(content, "default");
        for (auto* option = content->FirstChildElement("option"); option;
             option = option->NextSiblingElement("option")) {
          parameter.values.push_back(attr(option, "value"));
        }
      }
      metadata.parameters.push_back(std::move(parameter));
    }
  }
  if (const auto* actions = root->FirstChildElement("actions")) {
    for (auto* a = actions->FirstChildElement("action"); a; a = a->NextSiblingElement("action")) {
      metadata.actions.push_back(
          {attr(a, "name"), attr(a, "timeout"), attr(a, "interval"), attr(a, "depth"), attr(a, "role")});
    }
  }
  return metadata;
}

}  // namespace lrm::kernel

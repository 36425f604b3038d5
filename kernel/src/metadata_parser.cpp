// OCF meta-data XML → sdk::AgentMetadata with tinyxml2 (see metadata_parser.hpp).
#include "metadata_parser.hpp"

#include <tinyxml2.h>

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

}  // namespace

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

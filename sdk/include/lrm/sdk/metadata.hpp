// Agent metadata in structured form, as the daemon parses it from an agent's
// OCF-style meta-data XML (class-independent: lsb and native agents give the
// same shape). Plain structs, part of the client-visible SDK.
#pragma once

#include <string>
#include <vector>

namespace lrm::sdk {

/** @brief One parameter of an agent. */
struct ParameterInfo {
  std::string name;
  std::string type;           ///< content type: string, integer, boolean, select, ...
  std::string default_value;
  std::string shortdesc;
  std::string longdesc;
  bool required = false;
  bool unique = false;        ///< unique="1" or a unique-group
  bool reloadable = false;
  bool deprecated = false;
  std::vector<std::string> values;  ///< allowed values of a `select`
};

/** @brief One action an agent advertises. */
struct ActionInfo {
  std::string name;
  std::string timeout;   ///< as written, e.g. "20s"
  std::string interval;
  std::string depth;
  std::string role;
};

/** @brief An agent's metadata. */
struct AgentMetadata {
  std::string name;
  std::string version;
  std::string shortdesc;
  std::string longdesc;
  std::vector<ParameterInfo> parameters;
  std::vector<ActionInfo> actions;
};

}  // namespace lrm::sdk

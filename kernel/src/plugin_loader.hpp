// Loads resource-class plugins with Boost.DLL. The SDK's ABI gate
// (sdk::descriptorProblem: major equal, minor not newer, descriptor large
// enough, create and destroy set) and a name check run before any plugin code
// does; a bad plugin is reported by file name and skipped, never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lrm/sdk/resource_class.hpp"

namespace lrm::kernel {

/** A plugin's class object; its deleter keeps the library loaded while it lives. */
using ClassPtr = std::shared_ptr<sdk::ResourceClass>;

struct LoadedPlugin {
  std::string path;
  std::string name;
  std::string version;
  std::uint32_t abi_minor = 0;  ///< what the plugin was built with: which virtuals it has
  ClassPtr object;
};

/**
 * Load one plugin file. @return the plugin, or nullptr with @p error naming
 * the file and the precise reason.
 */
std::unique_ptr<LoadedPlugin> loadPlugin(const std::string& path, std::string& error);

/** Every `*.so` file in @p dir, sorted. */
std::vector<std::string> pluginFiles(const std::string& dir);

}  // namespace lrm::kernel

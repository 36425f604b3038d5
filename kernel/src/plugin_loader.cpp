// Boost.DLL plugin loading with the SDK's ABI gate (see plugin_loader.hpp).
#define BOOST_DLL_USE_STD_FS
#include "plugin_loader.hpp"

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <filesystem>

#include "lrm/sdk/plugin.hpp"

namespace lrm::kernel {
namespace {

// Every library loaded stays mapped until the process exits (lrm never
// unloads a plugin, docs/sdk.md). Destroying the last object of a plugin can
// happen inside that plugin's own code (a callback closure owning it), which must not
// unmap the code it is running.
std::vector<std::shared_ptr<boost::dll::shared_library>>& loadedForever() {
  static std::vector<std::shared_ptr<boost::dll::shared_library>> libraries;
  return libraries;
}

}  // namespace

std::unique_ptr<LoadedPlugin> loadPlugin(const std::string& path, std::string& error) {
  auto library = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code ec;
  library->load(std::filesystem::absolute(path),
                boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) {
    error = "unable to load plugin " + path + ": " + ec.message();
    return nullptr;
  }
  if (!library->has(LRM_PLUGIN_SYMBOL)) {
    error = "unable to load plugin " + path + ": it does not export '" LRM_PLUGIN_SYMBOL "'";
    return nullptr;
  }
  const auto& info = library->get<const lrm_plugin_descriptor>(LRM_PLUGIN_SYMBOL);
  std::string problem = sdk::descriptorProblem(info, LRM_PLUGIN_DESCRIPTOR_MIN_SIZE);
  if (problem.empty() && (!info.name || !*info.name)) problem = "descriptor lacks a name";
  if (!problem.empty()) {
    error = "unable to load plugin " + path + ": " + problem;
    return nullptr;
  }
  loadedForever().push_back(library);
  sdk::ResourceClass* raw = info.create();
  if (!raw) {
    error = "unable to load plugin " + path + ": create() failed";
    return nullptr;
  }
  auto destroy = info.destroy;
  auto plugin = std::make_unique<LoadedPlugin>();
  plugin->path = path;
  plugin->name = info.name;
  plugin->version = info.version ? info.version : "";
  plugin->abi_minor = info.abi_minor;
  // The deleter owns a reference to the library: the code stays mapped for as
  // long as the object can be called.
  plugin->object = ClassPtr(raw, [library, destroy](sdk::ResourceClass* object) { destroy(object); });
  return plugin;
}

std::vector<std::string> pluginFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".so" && entry.is_regular_file(ec)) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace lrm::kernel

// The one symbol a plugin exports, and the macro that defines it. The daemon
// loads the library, reads `lrm_plugin_info`, checks it with the ABI gate
// (lrm::sdk::descriptorProblem, abi.hpp), and only then calls create().
#pragma once

#include <cstddef>
#include <cstdint>

#include "lrm/sdk/abi.hpp"
#include "lrm/sdk/resource_class.hpp"

/** @brief Name of the exported descriptor symbol. */
#define LRM_PLUGIN_SYMBOL "lrm_plugin_info"

extern "C" {

/**
 * @brief The plugin descriptor. Append-only: new fields go at the end and the
 * loader uses struct_size to know which fields a plugin has.
 */
struct lrm_plugin_descriptor {
  std::uint32_t abi_major;  ///< LRM_SDK_ABI_MAJOR the plugin was built with
  std::uint32_t abi_minor;  ///< LRM_SDK_ABI_MINOR the plugin was built with
  std::uint32_t struct_size;  ///< sizeof(lrm_plugin_descriptor) the plugin was built with
  const char* name;         ///< class name, e.g. "ocf"
  const char* version;      ///< the plugin's own version, free text
  /** @brief Create the class object; nullptr on failure. Must not throw. */
  lrm::sdk::ResourceClass* (*create)();
  /** @brief Destroy an object made by create(). */
  void (*destroy)(lrm::sdk::ResourceClass*);
};

}  // extern "C"

/**
 * @brief Size of the ABI 1.0 descriptor: the smallest one a loader accepts.
 * A plugin built against an older minor version has a smaller struct_size
 * than a newer loader's; the loader then treats the missing fields as absent.
 */
#define LRM_PLUGIN_DESCRIPTOR_MIN_SIZE \
  (offsetof(lrm_plugin_descriptor, destroy) + sizeof(lrm_plugin_descriptor::destroy))

/**
 * @brief (Internal) the create/destroy pair of a descriptor: make a @p CLASS
 * as a @p BASE (nullptr instead of an exception) and delete it.
 */
#define LRM_DETAIL_FACTORY(BASE, CLASS)   \
  []() noexcept -> BASE* {                \
    try {                                 \
      return new CLASS();                 \
    } catch (...) {                       \
      return nullptr;                     \
    }                                     \
  },                                      \
      [](BASE* object) noexcept { delete object; }

/**
 * @brief Export @p CLASS (a lrm::sdk::ResourceClass with a default constructor)
 * as the plugin named @p NAME. Use once per plugin library, at namespace scope.
 */
#define LRM_PLUGIN(CLASS, NAME, VERSION)                                                  \
  LRM_SDK_EXPORT const lrm_plugin_descriptor lrm_plugin_info;                             \
  extern "C" const lrm_plugin_descriptor lrm_plugin_info = {                              \
      LRM_SDK_ABI_MAJOR,                                                                  \
      LRM_SDK_ABI_MINOR,                                                                  \
      sizeof(lrm_plugin_descriptor),                                                      \
      NAME,                                                                               \
      VERSION,                                                                            \
      LRM_DETAIL_FACTORY(lrm::sdk::ResourceClass, CLASS)}

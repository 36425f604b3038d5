// The SDK's ABI: the version numbers a plugin or agent is built with, the
// macro that exports its one descriptor symbol, and the one gate every loader
// of such a library applies to the descriptor it finds (lrmd's plugin loader,
// the native class, lrm-agent-host). Plain C++: a plugin or agent built
// against these headers needs nothing but the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

/** @brief Major ABI version: bumped on any incompatible change of the SDK headers. */
#define LRM_SDK_ABI_MAJOR 1
/** @brief Minor ABI version: bumped when something is appended compatibly. */
#define LRM_SDK_ABI_MINOR 4

/**
 * @brief Declares the exported descriptor of a plugin or agent: C linkage (an
 * unmangled name the loader can find) and default visibility (exported even
 * though the library is built with hidden visibility, as lrm_add_plugin and
 * lrm_add_agent do). Used by LRM_PLUGIN and LRM_AGENT.
 */
#define LRM_SDK_EXPORT extern "C" __attribute__((visibility("default")))

namespace lrm::sdk {

/**
 * @brief The ABI gate: why a loader built with these headers must not use
 * @p descriptor (an lrm_plugin_descriptor or lrm_agent_descriptor), or ""
 * when it may.
 *
 * A descriptor is usable when its abi_major equals LRM_SDK_ABI_MAJOR, its
 * abi_minor is not newer than LRM_SDK_ABI_MINOR, its struct_size covers at
 * least @p min_size bytes (the ABI 1.0 descriptor: LRM_PLUGIN_DESCRIPTOR_MIN_SIZE
 * or LRM_AGENT_DESCRIPTOR_MIN_SIZE) and create and destroy are set. The fields
 * are read in that order, so nothing beyond a short descriptor is read.
 * What only one kind of descriptor has (a plugin's name, an agent's provider
 * and type) is the caller's to check.
 * @return "" or the reason, e.g. "built for SDK ABI 2.0, this lrmd provides ABI 1.1"
 */
template <class Descriptor>
std::string descriptorProblem(const Descriptor& descriptor, std::size_t min_size) {
  if (descriptor.abi_major != LRM_SDK_ABI_MAJOR || descriptor.abi_minor > LRM_SDK_ABI_MINOR) {
    return "built for SDK ABI " + std::to_string(descriptor.abi_major) + "." +
           std::to_string(descriptor.abi_minor) + ", this lrmd provides ABI " +
           std::to_string(LRM_SDK_ABI_MAJOR) + "." + std::to_string(LRM_SDK_ABI_MINOR);
  }
  if (descriptor.struct_size < min_size) {
    return "descriptor of " + std::to_string(descriptor.struct_size) + " bytes is smaller than the " +
           std::to_string(min_size) + " bytes of ABI " + std::to_string(LRM_SDK_ABI_MAJOR) + ".0";
  }
  if (!descriptor.create) return "descriptor lacks create()";
  if (!descriptor.destroy) return "descriptor lacks destroy()";
  return {};
}

}  // namespace lrm::sdk

// Fuzzes the kernel's reading of an agent's meta-data output (agents are
// not trusted to print sane XML): parseMetadata(), checkMetadata(), and
// checkParameters() of what was parsed against the parameters' own defaults
// and a name the metadata does not list.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "metadata_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)lrm::kernel::checkMetadata(xml);
  std::string error;
  const auto metadata = lrm::kernel::parseMetadata(xml, error);
  if (!metadata) {
    if (error.empty()) std::abort();
    return 0;
  }
  std::map<std::string, std::string> params = {{"not-in-the-metadata", "x"}};
  for (const auto& parameter : metadata->parameters) params[parameter.name] = parameter.default_value;
  (void)lrm::kernel::checkParameters(*metadata, params);
  return 0;
}

// The service plugin: a name resolves to its LSB init script.
#include "lrm/sdk/plugin.hpp"
#include "lsb_class.hpp"

LRM_PLUGIN(lrm::plugins::lsb::ServiceClass, "service", "1.0");

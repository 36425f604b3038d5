// The service plugin: the systemd unit where systemd is PID 1, else the LSB
// init script (service_class.hpp).
#include "lrm/sdk/plugin.hpp"
#include "service_class.hpp"

LRM_PLUGIN(lrm::plugins::lsb::ServiceClass, "service", "1.0");

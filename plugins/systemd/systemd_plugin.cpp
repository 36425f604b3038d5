// The systemd plugin: systemd units over the system bus (docs/systemd.md).
#include "lrm/sdk/plugin.hpp"
#include "systemd_class.hpp"

LRM_PLUGIN(lrm::plugins::systemd::SystemdClass, "systemd", "1.0");

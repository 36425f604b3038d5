// The lsb plugin: init scripts from $LRM_LSB_PATH (default /etc/init.d).
#include "lrm/sdk/plugin.hpp"
#include "lsb_class.hpp"

LRM_PLUGIN(lrm::plugins::lsb::LsbClass, "lsb", "1.0");

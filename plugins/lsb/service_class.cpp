// The service class (see service_class.hpp).
#include "service_class.hpp"

#include <systemd/sd-daemon.h>

#include "lsb_class.hpp"
#include "script_class.hpp"
#include "systemd_class.hpp"

namespace lrm::plugins::lsb {

bool ServiceClass::init(sdk::Host& host, std::string& error) noexcept {
  try {
    const std::string backend = environmentOrSetting("LRM_SERVICE_BACKEND", host, "service.backend", "auto");
    if (backend != "auto" && backend != "systemd" && backend != "lsb") {
      error = "service backend '" + backend + "' ($LRM_SERVICE_BACKEND or service.backend) is not auto, systemd or lsb";
      return false;
    }
    const bool booted = sd_booted() > 0;
    const bool systemd = backend == "systemd" || (backend == "auto" && booted);
    if (systemd) {
      chosen_ = std::make_unique<systemd::SystemdClass>();
    } else {
      chosen_ = std::make_unique<LsbClass>("service");
    }
    host.log(sdk::LogLevel::Info, {},
             std::string("service: systemd is ") + (booted ? "" : "not ") + "PID 1" +
                 (backend == "auto" ? "" : ", the backend is set to " + backend) + ": service:NAME runs " +
                 (systemd ? "the systemd unit NAME.service" : "the LSB init script NAME"));
    return chosen_->init(host, error);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

}  // namespace lrm::plugins::lsb

// The OCF-shaped metadata document of an agent without its own (see synthesized_metadata.hpp).
#include "synthesized_metadata.hpp"

#include <tinyxml2.h>

namespace lrm::plugins {
namespace {

void textElement(tinyxml2::XMLPrinter& printer, const std::string& element, const std::string& text,
                 bool with_lang) {
  printer.OpenElement(element.c_str());
  if (with_lang) printer.PushAttribute("lang", "en");
  printer.PushText(text.c_str());
  printer.CloseElement();
}

}  // namespace

std::string synthesizeMetadata(const MetadataOutline& outline) {
  tinyxml2::XMLPrinter printer(nullptr, false);
  printer.PushHeader(false, true);
  printer.OpenElement("resource-agent");
  printer.PushAttribute("name", outline.name.c_str());
  printer.PushAttribute("version", "0.1");
  textElement(printer, "version", "1.0", false);
  textElement(printer, "longdesc", outline.longdesc, true);
  textElement(printer, "shortdesc", outline.shortdesc, true);
  printer.OpenElement("parameters");
  printer.CloseElement();
  printer.OpenElement("actions");
  for (const auto& [action, timeout] : outline.actions) {
    printer.OpenElement("action");
    printer.PushAttribute("name", action.c_str());
    printer.PushAttribute("timeout", timeout.c_str());
    if (action == "monitor") printer.PushAttribute("interval", outline.monitor_interval.c_str());
    printer.CloseElement();
  }
  printer.CloseElement();  // actions
  printer.OpenElement("special");
  printer.PushAttribute("tag", outline.special_tag.c_str());
  for (const auto& [element, text] : outline.special) textElement(printer, element, text, false);
  printer.CloseElement();  // special
  printer.CloseElement();  // resource-agent
  return printer.CStr();
}

}  // namespace lrm::plugins

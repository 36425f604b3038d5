# lrm_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
# Builds a resource-class plugin (target lrm_plugin_<name>) as the MODULE
# library <name>.so in the plugin directory, with hidden visibility so that only the descriptor that
# LRM_PLUGIN() exports is visible to the loader.
function(lrm_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  set(target lrm_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE lrm::sdk ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${name}
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${LRM_PLUGIN_OUTPUT_DIRECTORY})
endfunction()

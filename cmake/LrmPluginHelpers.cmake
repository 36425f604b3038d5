# Helpers to build lrm plugins and native agents, in the lrm tree and out of
# it (installed with the SDK; find_package(lrm) includes this file).
#
# lrm_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>] [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
# Builds a resource-class plugin (target lrm_plugin_<name>) as the MODULE
# library <name>.so, by default in the plugin directory, with hidden
# visibility so that only the descriptor LRM_PLUGIN() exports is visible.
#
# lrm_add_agent(<name> SOURCES <files...> [LIBRARIES <libs...>] [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
# The same for a native agent (target lrm_agent_<name>, exporting LRM_AGENT()).

# What both share: <kind> is plugin or agent; installed in lib/lrm/<kind>s.
function(_lrm_add_module kind name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  string(TOUPPER ${kind} KIND)
  if(NOT ARG_OUTPUT_DIRECTORY)
    set(ARG_OUTPUT_DIRECTORY ${LRM_${KIND}_OUTPUT_DIRECTORY})
  endif()
  if(NOT ARG_OUTPUT_DIRECTORY)
    set(ARG_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/${kind}s)
  endif()
  set(target lrm_${kind}_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE lrm::sdk ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${name}
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY}
    INSTALL_RPATH "$ORIGIN/../..")
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION lib/lrm/${kind}s)
  endif()
endfunction()

function(lrm_add_plugin name)
  _lrm_add_module(plugin ${name} ${ARGN})
endfunction()

function(lrm_add_agent name)
  _lrm_add_module(agent ${name} ${ARGN})
endfunction()

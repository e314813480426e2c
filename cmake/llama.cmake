# llama.cpp for the local engine (DESIGN.md "Local engine"), built and cached outside this build
# tree by scripts/llama.sh. Defines:
#   KEEL_LOCAL           cache setting: AUTO (the default: build the local engine when the
#                        llama.cpp build exists), ON (require it) or OFF (leave it out)
#   KEEL_LOCAL_ENGINE    ON or OFF: what KEEL_LOCAL came to; test this one, not KEEL_LOCAL
#   keel::llama          interface target: llama.h, ggml headers and llama.cpp's common/ headers;
#                        links llama, llama-common (llama.cpp's `common`), ggml and Threads
#   KEEL_LLAMA_SERVER    path of the llama-server built from the same source (peer tests, bench)
# CMakeLists.txt defines KEEL_HAS_LLAMA for the whole project when KEEL_LOCAL_ENGINE is ON.
#
# The cache directory comes from `scripts/llama.sh --print-dir` (which honours KEEL_CACHE and
# LLAMA_CPP_DIR), or from -DKEEL_LLAMA_DIR=<dir> to point at a cache directory directly.

set(KEEL_LLAMA_DIR "" CACHE PATH "llama.cpp cache directory made by scripts/llama.sh (empty: ask the script)")
set(_keel_llama_dir "${KEEL_LLAMA_DIR}")
if(NOT _keel_llama_dir)
  execute_process(
    COMMAND bash "${PROJECT_SOURCE_DIR}/scripts/llama.sh" --print-dir
    OUTPUT_VARIABLE _keel_llama_dir
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _keel_llama_rc)
  if(NOT _keel_llama_rc EQUAL 0)
    set(_keel_llama_dir "")
  endif()
endif()
set(_keel_llama_stamp "${_keel_llama_dir}/keel-llama.cmake")

if(_keel_llama_dir AND EXISTS "${_keel_llama_stamp}")
  set(_keel_llama_found ON)
else()
  set(_keel_llama_found OFF)
endif()
# KEEL_LOCAL=AUTO follows whether the llama.cpp build exists, at every configure (so a build tree
# configured before scripts/llama.sh ran turns the engine on at the next one); ON and OFF are
# what was asked for and stay. It used to be a BOOL whose automatic value was remembered in
# _KEEL_LOCAL_AUTO, and an explicit -DKEEL_LOCAL=OFF equal to that value was taken for the
# automatic one, so it turned ON again once llama.cpp was built: the option did not stick.
set(KEEL_LOCAL AUTO CACHE STRING
    "Build the local engine (llama.cpp, built by scripts/llama.sh): AUTO, ON or OFF")
set_property(CACHE KEEL_LOCAL PROPERTY STRINGS AUTO ON OFF)
if(DEFINED CACHE{_KEEL_LOCAL_AUTO})
  # A tree from before: its automatic value becomes AUTO, a value set by hand stays.
  if("${KEEL_LOCAL}" STREQUAL "${_KEEL_LOCAL_AUTO}")
    set_property(CACHE KEEL_LOCAL PROPERTY VALUE AUTO)
  endif()
  set_property(CACHE KEEL_LOCAL PROPERTY TYPE STRING)
  unset(_KEEL_LOCAL_AUTO CACHE)
endif()
string(TOUPPER "${KEEL_LOCAL}" _keel_local_mode)
if(_keel_local_mode STREQUAL "AUTO")
  set(KEEL_LOCAL_ENGINE ${_keel_llama_found})
elseif(KEEL_LOCAL)   # ON, YES, TRUE, 1...
  set(KEEL_LOCAL_ENGINE ON)
else()
  set(KEEL_LOCAL_ENGINE OFF)
endif()

if(NOT KEEL_LOCAL_ENGINE)
  if(_keel_llama_found)
    message(STATUS "keel: local engine off (KEEL_LOCAL=OFF)")
  else()
    message(STATUS "keel: local engine off: no llama.cpp build at '${_keel_llama_dir}'. "
                   "Run scripts/llama.sh (make build runs it through scripts/setup.sh), then reconfigure.")
  endif()
  return()
endif()
if(NOT _keel_llama_found)
  message(FATAL_ERROR "KEEL_LOCAL is ${KEEL_LOCAL} but there is no llama.cpp build at '${_keel_llama_dir}' "
                      "(no keel-llama.cmake stamp). Run scripts/llama.sh first, or set KEEL_LOCAL=OFF.")
endif()

# Sets KEEL_LLAMA_VERSION, KEEL_LLAMA_COMMIT, KEEL_LLAMA_SOURCE_DIR, KEEL_LLAMA_BUILD_DIR,
# KEEL_LLAMA_SERVER.
include("${_keel_llama_stamp}")
# Reconfigure when scripts/llama.sh rebuilds (new stamp).
set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_keel_llama_stamp}")

# Static libraries, each with what it needs after it on the link line (static link order).
# A library is looked up by name under the build directory, so layout changes between llama.cpp
# versions only need a new search path here.
set(_keel_llama_b "${KEEL_LLAMA_BUILD_DIR}")
function(_keel_llama_lib target name)
  find_library(_keel_llama_lib_${target} NAMES ${name}
    PATHS "${_keel_llama_b}/src" "${_keel_llama_b}/common" "${_keel_llama_b}/ggml/src"
          "${_keel_llama_b}/ggml/src/ggml-cpu" "${_keel_llama_b}/vendor/cpp-httplib"
    NO_DEFAULT_PATH NO_CACHE)
  if(NOT _keel_llama_lib_${target})
    message(FATAL_ERROR "keel: lib${name}.a not found under ${_keel_llama_b}; rerun scripts/llama.sh")
  endif()
  add_library(keel_llama_${target} STATIC IMPORTED GLOBAL)
  set_target_properties(keel_llama_${target} PROPERTIES
    IMPORTED_LOCATION "${_keel_llama_lib_${target}}"
    INTERFACE_LINK_LIBRARIES "${ARGN}")
endfunction()

find_package(Threads REQUIRED)
_keel_llama_lib(ggml_base ggml-base Threads::Threads m)
_keel_llama_lib(ggml_cpu ggml-cpu keel_llama_ggml_base)
# libggml is the backend registry; with static backends it references ggml-cpu directly.
_keel_llama_lib(ggml ggml keel_llama_ggml_cpu keel_llama_ggml_base ${CMAKE_DL_LIBS})
_keel_llama_lib(llama llama keel_llama_ggml)
_keel_llama_lib(httplib cpp-httplib Threads::Threads)
_keel_llama_lib(common_base llama-common-base)
_keel_llama_lib(common llama-common keel_llama_common_base keel_llama_httplib keel_llama_llama)

add_library(keel_llama INTERFACE)
add_library(keel::llama ALIAS keel_llama)
# common/ headers are included as "common.h", "chat.h", "sampling.h"...; they do not expose the
# vendored nlohmann json (common_json is a pimpl), so keel's own nlohmann_json does not clash.
target_include_directories(keel_llama SYSTEM INTERFACE
  "${KEEL_LLAMA_SOURCE_DIR}/include"
  "${KEEL_LLAMA_SOURCE_DIR}/ggml/include"
  "${KEEL_LLAMA_SOURCE_DIR}/common")
target_link_libraries(keel_llama INTERFACE keel_llama_common)

message(STATUS "keel: local engine on: llama.cpp ${KEEL_LLAMA_VERSION} (${KEEL_LLAMA_COMMIT}) from ${_keel_llama_dir}")

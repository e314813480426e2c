// The web console (web/) at "/": its files are compiled into keel (the generated
// console_assets.cpp, made from web/'s esbuild output by cmake/embed_console.cmake), so keel
// serves it with no files beside it and no third-party requests. A build without node has an
// empty asset list, and "/" says why.
//
// App::routes() sends GET "/", "/index.html" and "/console/..." here.
#pragma once

#include <span>
#include <string_view>

#include "http/server.h"

namespace keel {

struct ConsoleAsset {
  std::string_view path;  // "/console/app.js"; index.html is served at "/"
  std::string_view content_type;
  std::string_view body;
};

// Defined in the generated console_assets.cpp (CMakeLists.txt).
std::span<const ConsoleAsset> console_assets();
// Why the console is not in this build; "" when it is.
std::string_view console_absent_reason();

// The Content-Security-Policy every console response carries: only keel's own origin, no
// inline script or style, no framing.
inline constexpr std::string_view kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

Task<void> serve_console(Request& request, ResponseWriter& response);

}  // namespace keel

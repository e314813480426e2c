// Jinja templates for prompts, rendered by llama.cpp's common/jinja engine (the only file of
// `prompts` that includes it). A keel built without the local engine (KEEL_LOCAL=OFF) has no
// llama.cpp: every call then fails with kUnavailable saying so, and nothing else breaks.
//
//   auto text = render_jinja("Hello {{name}}!", Json{{"name", "World"}}, "a.prompty", 12);
//   auto names = template_variables(source, "a.prompty", 12);   // [{"name", 12}]
//
// The engine's whitespace rules are llama.cpp's chat-template ones (trim_blocks and
// lstrip_blocks on, one trailing newline dropped); Prompt flow's Jinja has lstrip_blocks off.
// Stateless and thread-safe.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/chat.h"
#include "core/result.h"

namespace keel {

// Whether this binary has the Jinja engine (it comes with the local engine's llama.cpp).
bool jinja_available();

// Renders `source` with `variables` (a JSON object: each member is a top-level name). Errors
// are kInvalidArgument "WHERE:LINE: template error: ...", LINE counted from `first_line` (the
// line of the template's first line in its file).
Result<std::string> render_jinja(const std::string& source, const Json& variables,
                                 const std::string& where, int first_line);

// A template parsed once, rendered many times: a .prompty's body is parsed when its file is
// loaded (prepare_template, prompts/prompty.h), so that a request only runs it; parsing was
// most of a prompt's cost per request (docs/dev.md "Prompts"). Renders of one template take
// turns: the engine writes to a {% filter %} node while it runs it (common/jinja/runtime.cpp).
class CompiledTemplate {
 public:
  // Errors as render_jinja's.
  static Result<std::shared_ptr<const CompiledTemplate>> compile(const std::string& source,
                                                                 const std::string& where,
                                                                 int first_line);
  // render_jinja(source, variables, where, first_line), without parsing again. Any thread.
  Result<std::string> render(const Json& variables) const;
  ~CompiledTemplate();

 private:
  struct Impl;
  explicit CompiledTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The names `source` reads that nothing in it binds (for-loop variables, set, macro names and
// parameters, the engine's globals), each once with the line of its first use.
Result<std::vector<std::pair<std::string, int>>> template_variables(const std::string& source,
                                                                    const std::string& where,
                                                                    int first_line);

}  // namespace keel

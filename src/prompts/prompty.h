// Microsoft's `.prompty` prompt files: YAML front matter between `---` lines, then a Jinja
// template whose role markers ("system:", "user:" alone on a line) split the rendered text into
// chat messages. Two dialects, told apart by their keys (../shared/promptflow/README.md):
//   classic (Prompt flow): model: {api, configuration, parameters}, inputs: {name: {type,
//                          default}}, sample
//   v2 (prompty main):     model: {id, provider, apiType, options} or model: gpt-4,
//                          inputs: [{name, kind, default, required}], template: {format, parser}
//
//   auto prompt = load_prompty("prompts/summarize.prompty");
//   if (!prompt) return prompt.error();        // "summarize.prompty:7: inputs.text: ..."
//   auto messages = render_prompty(*prompt, Json{{"text", "..."}});
//   // -> [{system, "..."}, {user, "..."}] or an error naming the file and line
//
// Loading reads only the file and the files its front matter names by ${file:...} (inside the
// prompt's folder); it does no network I/O. Thread-safe: a loaded Prompty is immutable.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat.h"
#include "core/result.h"

namespace keel {

class CompiledTemplate;  // prompts/jinja.h

enum class PromptyDialect { kClassic, kV2 };

// Declared input types, from either dialect's spelling (classic `type`, v2 `kind`).
enum class InputType { kAny, kString, kInteger, kNumber, kBoolean, kList, kObject, kThread };

struct PromptInput {
  std::string name;
  InputType type = InputType::kAny;
  std::string type_name;  // as written ("string", "int", "list"...)
  std::optional<Json> default_value;
  bool required = false;  // classic: no default; v2: `required: true`
  int line = 0;           // of its declaration in the file
};

// One message of a rendered prompt, before it becomes a keel Message.
struct PromptMessage {
  std::string role;  // lower case, as written: system, user, developer...
  std::string text;
  Json metadata = Json::object();  // v2 role attributes: user[name="Alice"]:
};

struct Prompty {
  std::string path;  // as given; every error message starts with it
  PromptyDialect dialect = PromptyDialect::kClassic;
  std::string name;
  std::string description;
  Json front_matter = Json::object();  // resolved (${env:...}, ${file:...}), as JSON
  Json model = Json::object();         // v2 `model: gpt-4` comes as {"id": "gpt-4"}
  bool inputs_declared = false;        // the file has an `inputs` key
  int inputs_line = 0;                 // its line
  std::vector<PromptInput> inputs;
  std::string template_format = "jinja2";
  std::string body;   // the template, after the closing ---
  int body_line = 1;  // line number of the body's first line in the file
  Sampling sampling;  // from model.parameters (classic) / model.options (v2)
  std::optional<ResponseFormat> response_format;
  // The body parsed, once it passed check_template (prepare_template); renders then neither
  // check nor parse it again. Null: every render checks and parses the body.
  std::shared_ptr<const CompiledTemplate> compiled;

  // The model id the file names: v2 model.id, classic model.configuration.azure_deployment
  // (or .model); empty when none.
  std::string model_id() const;
  // The loaded prompt in prompty v2's PromptAgent shape (kind, name, model, inputs, template,
  // instructions...), as the conformance vectors describe it.
  Json agent_json() const;
};

// A prompt's `response_format` parameter (OpenAI's shape: json_object, or json_schema with name
// and schema); nullopt for text or anything else.
std::optional<ResponseFormat> response_format_of(const Json& wire);

// Environment lookup for ${env:NAME}; the default reads the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

struct PromptyLoadOptions {
  EnvLookup env;  // empty: the process environment
  // keel's router picks the connection, not the file, so by default an unset ${env:VAR} in
  // model.configuration / model.connection is left as written; true: it is an error there too.
  bool strict_connection_env = false;
};

// Parses `text` (a whole .prompty file). `path` names it in errors; ${file:...} is resolved
// against its folder and must stay inside it.
Result<Prompty> parse_prompty(std::string_view text, const std::string& path,
                              const PromptyLoadOptions& options = {});
Result<Prompty> load_prompty(const std::string& path, const PromptyLoadOptions& options = {});

// `given` checked against the declared inputs: defaults filled in, a missing required input,
// an unknown one or a wrong type is kInvalidArgument naming the file and the input's line.
// A file that declares no inputs accepts any object.
Result<Json> check_inputs(const Prompty& prompt, const Json& given);

// The role marker regex of both dialects: a role alone on its line (Prompt flow's
// `(?i)^\s*#?\s*(system|user|assistant|function|tool)\s*:\s*$`, plus v2's `developer` and
// `role[attr=value, ...]:`). Content is trimmed of leading and trailing newlines only.
// Text before the first marker: a system message (v2 and prompty 0.1.40); with
// `preamble_is_error`, Prompt flow's rule, kInvalidArgument naming `where` and the line.
// `first_line`: the line number of the text's first line, for messages.
Result<std::vector<PromptMessage>> split_messages(std::string_view rendered,
                                                  bool preamble_is_error = false,
                                                  const std::string& where = "",
                                                  int first_line = 1);

// The template parsed, and (when the file declares inputs) every variable it reads declared:
// "the template uses 'statement', which is not a declared input (...)" at its line. Runs
// without rendering; render_template_text runs it first.
Status check_template(const Prompty& prompt);

// check_template, then the body parsed into `prompt.compiled`, for a prompt that is loaded once
// and rendered per request (PromptSet).
Status prepare_template(Prompty& prompt);

// The template rendered with `inputs`, before splitting. prompty v2 thread inputs (kind
// thread, or a value {"_kind": "thread", "messages": [...]}) render as a nonce line
// "__PROMPTY_THREAD_<8 hex>_<name>__", recorded in `threads` for render_prompty to expand.
Result<std::string> render_template_text(const Prompty& prompt, const Json& inputs,
                                         std::map<std::string, Json>* threads = nullptr);

// Replaces each message's thread nonce line by that thread's messages (`threads`: nonce ->
// the thread input's value, a list of {role, content} or {"messages": [...]}).
std::vector<PromptMessage> expand_threads(std::vector<PromptMessage> messages,
                                          const std::map<std::string, Json>& threads);

// Renders the template with `inputs` (already checked), then splits it into messages. Errors
// (kInvalidArgument) name the file and line: template syntax and runtime errors, a variable
// the template uses that the file does not declare (when it declares inputs), and a prompt
// whose only role marker is followed by inline role lines ("user: text"), which no dialect
// treats as markers.
Result<std::vector<PromptMessage>> render_prompty(const Prompty& prompt, const Json& inputs);

// PromptMessages as keel Messages: role names mapped (function -> tool), `name` metadata kept.
Result<std::vector<Message>> to_chat_messages(const std::vector<PromptMessage>& messages,
                                              const std::string& where);

}  // namespace keel

#include "prompts/jinja.h"

#include <algorithm>
#include <mutex>
#include <set>
#include <string_view>

#ifdef KEEL_HAS_LLAMA
#include "jinja/lexer.h"
#include "jinja/parser.h"
#include "jinja/runtime.h"
#include "jinja/value.h"
#endif

namespace keel {

namespace {

[[maybe_unused]] int line_of(std::string_view source, size_t pos) {
  int line = 1;
  for (size_t i = 0; i < pos && i < source.size(); ++i) line += source[i] == '\n';
  return line;
}

[[maybe_unused]] Error template_error(const std::string& where, int line,
                                      const std::string& reason) {
  return Error(ErrorCode::kInvalidArgument,
               where + ":" + std::to_string(line) + ": template error: " + reason);
}

[[maybe_unused]] Error no_engine(const std::string& where) {
  return Error(ErrorCode::kUnavailable,
               where +
                   ": prompts need the Jinja engine of llama.cpp, and this keel was built "
                   "without the local engine (KEEL_LOCAL=OFF or no llama.cpp build; run "
                   "scripts/llama.sh and rebuild)");
}

#ifdef KEEL_HAS_LLAMA

// The engine's messages: a runtime error says "at line L, column C" and ends with
// "Error: reason"; a lexer or parser error is "parser: reason" and a snippet of the source
// ("...text↵more..." over a caret line), which is all that locates it.
std::pair<int, std::string> locate(const std::string& message, const std::string& source) {
  int line = 0;
  std::string reason = message;
  if (size_t at = message.find(" at line "); at != std::string::npos) {
    line = std::atoi(message.c_str() + at + 9);
  }
  if (size_t err = message.rfind("\nError: "); err != std::string::npos) {
    reason = message.substr(err + 8);
  } else {
    const size_t first_newline = message.find('\n');
    reason = message.substr(0, first_newline);
    if (line == 0 && first_newline != std::string::npos) {
      std::string rest = message.substr(first_newline + 1);
      const size_t caret_line = rest.find('\n');
      if (rest.rfind("...", 0) == 0 && caret_line != std::string::npos) {
        std::string snippet = rest.substr(3, caret_line - 3);
        if (snippet.size() >= 3 && snippet.compare(snippet.size() - 3, 3, "...") == 0) {
          snippet.resize(snippet.size() - 3);
        }
        const std::string arrow = "\xE2\x86\xB5";  // ↵, the engine's picture of a newline
        std::string plain;
        for (size_t i = 0; i < snippet.size();) {
          if (snippet.compare(i, arrow.size(), arrow) == 0) {
            plain += '\n';
            i += arrow.size();
          } else {
            plain += snippet[i++];
          }
        }
        const size_t caret = rest.find('^', caret_line);
        const size_t found = source.find(plain);
        if (found != std::string::npos && caret != std::string::npos) {
          // The caret sits 3 ("...") plus the error's byte offset into the snippet's source.
          const size_t column = caret - caret_line - 1;
          const size_t offset = column >= 3 ? column - 3 : 0;
          line = line_of(source, found + offset);
        }
      }
    }
  }
  for (const char* tag : {"parser: ", "lexer: "}) {
    if (reason.rfind(tag, 0) == 0) reason = reason.substr(std::string_view(tag).size());
  }
  return {line, reason};  // line 0: the message does not locate it
}

// A parser error the engine gives without a position ("Unexpected token: %}"): the first tag
// that fails alone with the same message is where it is. Block tags alone fail differently
// (no end tag), so they are not taken for it.
int find_failing_tag(const std::string& source, const jinja::lexer_result& tokens,
                     const std::string& message) {
  size_t open = std::string::npos;
  for (const auto& token : tokens.tokens) {
    if (token.t == jinja::token::open_statement || token.t == jinja::token::open_expression) {
      open = token.pos;
    } else if (open != std::string::npos && (token.t == jinja::token::close_statement ||
                                             token.t == jinja::token::close_expression)) {
      const std::string tag = tokens.source.substr(open, token.pos + token.value.size() - open);
      try {
        jinja::lexer lexer;
        (void)jinja::parse_from_tokens(lexer.tokenize(tag));
      } catch (const std::exception& e) {
        if (message == e.what()) return line_of(tokens.source, open);
      }
      open = std::string::npos;
    }
  }
  return 0;
}

jinja::value to_value(const Json& json) {
  switch (json.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      return jinja::mk_val<jinja::value_none>();
    case Json::value_t::boolean:
      return jinja::mk_val<jinja::value_bool>(json.get<bool>());
    case Json::value_t::number_integer:
      return jinja::mk_val<jinja::value_int>(json.get<int64_t>());
    case Json::value_t::number_unsigned:
      return jinja::mk_val<jinja::value_int>(static_cast<int64_t>(json.get<uint64_t>()));
    case Json::value_t::number_float:
      return jinja::mk_val<jinja::value_float>(json.get<double>());
    case Json::value_t::string:
      return jinja::mk_val<jinja::value_string>(json.get<std::string>());
    case Json::value_t::array: {
      auto array = jinja::mk_val<jinja::value_array>();
      for (const auto& item : json) array->push_back(to_value(item));
      return array;
    }
    case Json::value_t::object: {
      auto object = jinja::mk_val<jinja::value_object>();
      for (const auto& [key, item] : json.items()) object->insert(key, to_value(item));
      return object;
    }
    case Json::value_t::binary:
      break;
  }
  return jinja::mk_val<jinja::value_none>();
}

// Walks a parsed program and sorts its identifiers into names it binds and names it reads.
class VariableWalker {
 public:
  explicit VariableWalker(const std::string& source) : ctx_(source) {
    ctx_.visitor = [this](bool is_leaf, jinja::statement* node,
                          std::vector<jinja::visitor_pair> children) {
      visit(is_leaf, node, children);
    };
  }

  void walk(const jinja::program& program) {
    for (const auto& statement : program.body) statement->visit(ctx_);
  }

  std::set<std::string> bound;
  std::vector<std::pair<std::string, size_t>> used;  // name, position of its first use

 private:
  void visit(bool is_leaf, jinja::statement* node, std::vector<jinja::visitor_pair>& children) {
    if (is_leaf) {
      if (auto* id = dynamic_cast<jinja::identifier*>(node)) {
        if (binding_ > 0) {
          bound.insert(id->val);
        } else if (seen_.insert(id->val).second) {
          used.emplace_back(id->val, id->pos);
        }
      }
      return;
    }
    const std::string type = node->type();
    for (auto& [label, kids] : children) {
      const bool binds = (type == "For" && label == "loopvar") ||
                         (type == "Set" && label == "assignee") ||
                         (type == "Macro" && (label == "name" || label == "args")) ||
                         (type == "CallStatement" && label == "caller_args");
      const bool names_a_function =
          ((type == "FilterExpression" || type == "FilterStatement") && label == "filter") ||
          ((type == "TestExpression" || type == "TestStatement") && label == "test") ||
          (type == "KeywordArgumentExpression" && label == "key");
      auto* member = dynamic_cast<jinja::member_expression*>(node);
      const bool attribute = member != nullptr && !member->computed && label == "property";
      for (auto* kid : kids) {
        if (kid == nullptr || attribute) continue;
        if (names_a_function) {
          // `x | default(y)`: the filter's name is not a variable, its arguments are read.
          if (auto* call = dynamic_cast<jinja::call_expression*>(kid)) {
            for (auto& arg : call->args) arg->visit(ctx_);
          }
          continue;
        }
        if (binds) ++binding_;
        kid->visit(ctx_);
        if (binds) --binding_;
      }
    }
  }

  jinja::context ctx_;
  int binding_ = 0;
  std::set<std::string> seen_;
};

Result<jinja::program> compile(const std::string& source, const std::string& where,
                               int first_line) {
  jinja::lexer_result tokens;
  try {
    jinja::lexer lexer;
    tokens = lexer.tokenize(source);
  } catch (const std::exception& e) {
    auto [line, reason] = locate(e.what(), source);
    return template_error(where, first_line + std::max(line, 1) - 1, reason);
  }
  try {
    return jinja::parse_from_tokens(tokens);
  } catch (const std::exception& e) {
    auto [line, reason] = locate(e.what(), source);
    if (line == 0) line = find_failing_tag(source, tokens, e.what());
    return template_error(where, first_line + std::max(line, 1) - 1, reason);
  }
}

#endif  // KEEL_HAS_LLAMA

}  // namespace

#ifdef KEEL_HAS_LLAMA

bool jinja_available() { return true; }

namespace {

Result<std::string> run(const jinja::program& program, const std::string& source,
                        const Json& variables, const std::string& where, int first_line) {
  try {
    jinja::context ctx(source);
    if (variables.is_object()) {
      for (const auto& [name, item] : variables.items()) ctx.set_val(name, to_value(item));
    }
    jinja::runtime runtime(ctx);
    const jinja::value results = runtime.execute(program);
    return jinja::runtime::gather_string_parts(results)->as_string().str();
  } catch (const std::exception& e) {
    auto [line, reason] = locate(e.what(), source);
    return template_error(where, first_line + std::max(line, 1) - 1, reason);
  }
}

}  // namespace

Result<std::string> render_jinja(const std::string& source, const Json& variables,
                                 const std::string& where, int first_line) {
  auto program = compile(source, where, first_line);
  if (!program) return program.error();
  return run(*program, source, variables, where, first_line);
}

struct CompiledTemplate::Impl {
  std::string source;
  std::string where;
  int first_line = 1;
  jinja::program program;
  std::mutex mutex;  // one render at a time (the class comment says why)
};

Result<std::shared_ptr<const CompiledTemplate>> CompiledTemplate::compile(const std::string& source,
                                                                          const std::string& where,
                                                                          int first_line) {
  auto program = ::keel::compile(source, where, first_line);
  if (!program) return program.error();
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  impl->where = where;
  impl->first_line = first_line;
  impl->program = std::move(*program);
  return std::shared_ptr<const CompiledTemplate>(new CompiledTemplate(std::move(impl)));
}

Result<std::string> CompiledTemplate::render(const Json& variables) const {
  std::lock_guard lock(impl_->mutex);
  return run(impl_->program, impl_->source, variables, impl_->where, impl_->first_line);
}

Result<std::vector<std::pair<std::string, int>>> template_variables(const std::string& source,
                                                                    const std::string& where,
                                                                    int first_line) {
  auto program = compile(source, where, first_line);
  if (!program) return program.error();
  VariableWalker walker(source);
  walker.walk(*program);
  static const std::set<std::string> kEngineNames = {"true",    "false",  "none",  "True",
                                                     "False",   "None",   "loop",  "caller",
                                                     "varargs", "kwargs", "super", "self"};
  const auto& builtins = jinja::global_builtins();
  std::vector<std::pair<std::string, int>> names;
  for (const auto& [name, pos] : walker.used) {
    if (walker.bound.count(name) || kEngineNames.count(name) || builtins.count(name)) continue;
    names.emplace_back(name, first_line + line_of(source, pos) - 1);
  }
  return names;
}

#else

struct CompiledTemplate::Impl {};

Result<std::shared_ptr<const CompiledTemplate>> CompiledTemplate::compile(const std::string&,
                                                                          const std::string& where,
                                                                          int) {
  return no_engine(where);
}

Result<std::string> CompiledTemplate::render(const Json&) const { return no_engine("template"); }

bool jinja_available() { return false; }

Result<std::string> render_jinja(const std::string&, const Json&, const std::string& where, int) {
  return no_engine(where);
}

Result<std::vector<std::pair<std::string, int>>> template_variables(const std::string&,
                                                                    const std::string& where, int) {
  return no_engine(where);
}

#endif

CompiledTemplate::CompiledTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledTemplate::~CompiledTemplate() = default;

}  // namespace keel

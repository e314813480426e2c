// `keel chat MODEL`: a terminal chat with a running keel, streaming tokens as they come.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "cli/commands.h"
#include "http/client.h"
#include "http/sse.h"

namespace keel::cli {

namespace {

// The citations an OpenAI chunk's delta carries (a copilot's: url_citation annotations).
void note_sources(const std::string& data, std::vector<std::string>& sources) {
  const auto chunk = try_parse_json(data);
  if (!chunk || !chunk->is_object()) return;
  const Json* choices = member(*chunk, "choices");
  if (!choices || !choices->is_array() || choices->empty()) return;
  const Json* delta = member(choices->at(0), "delta");
  const Json* annotations = delta ? member(*delta, "annotations") : nullptr;
  if (!annotations || !annotations->is_array()) return;
  for (const Json& annotation : *annotations) {
    const Json* citation = member(annotation, "url_citation");
    if (!citation || !citation->is_object()) continue;
    sources.push_back(optional_string(*citation, "title") + " (" +
                      optional_string(*citation, "url") + ")");
  }
}

// One streamed turn: prints deltas as they arrive; returns the whole answer.
Task<Result<std::string>> stream_turn(const Url& base, const std::string& api_key,
                                      const Json& body) {
  ClientRequest request;
  request.method = "POST";
  request.url = base.with_path("/chat/completions");
  request.headers = {{"content-type", "application/json"}, {"accept", "text/event-stream"}};
  if (!api_key.empty()) request.headers.emplace_back("authorization", "Bearer " + api_key);
  request.body = body.dump();
  auto cancel = std::make_shared<CancelToken>();
  auto response = co_await http_send(std::move(request), cancel);
  if (!response) co_return response.error();
  auto& res = *response.value();
  if (res.status() != 200) {
    auto text = co_await res.read_all(1 << 20);
    std::string message = upstream_error_message(text ? *text : std::string());
    co_return Error(ErrorCode::kUnavailable,
                    "keel answered " + std::to_string(res.status()) + ": " + message);
  }
  SseParser parser;
  OpenAIStreamDecoder decoder;
  std::string answer;
  std::optional<Error> failure;
  std::vector<std::string> sources;  // a copilot's citations: "title (url)"
  std::vector<std::string> calls;    // tool calls left to the client (a copilot's approval)
  while (true) {
    auto chunk = co_await res.read_some();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) break;
    parser.feed(*chunk, [&](const SseEvent& event) {
      if (event.data == "[DONE]") return;
      if (event.data.find("\"annotations\"") != std::string::npos)
        note_sources(event.data, sources);
      std::vector<ChatEvent> events;
      if (auto status = decoder.decode(event.data, events); !status.ok()) {
        failure = status.error();
        return;
      }
      for (const auto& e : events) {
        if (e.kind == ChatEvent::Kind::kTextDelta) {
          std::fwrite(e.text.data(), 1, e.text.size(), stdout);
          std::fflush(stdout);
          answer += e.text;
        } else if (e.kind == ChatEvent::Kind::kError) {
          failure = e.error;
        } else if (e.kind == ChatEvent::Kind::kToolCallStart) {
          calls.push_back(e.tool_name);
        }
      }
    });
  }
  std::fputc('\n', stdout);
  for (size_t i = 0; i < sources.size(); ++i) {
    std::printf("  source %zu: %s\n", i + 1, sources[i].c_str());
  }
  if (!calls.empty()) {
    std::string names;
    for (const auto& name : calls) names += (names.empty() ? "" : ", ") + name;
    co_return Error(ErrorCode::kInvalidArgument,
                    "the answer asks the client to run " + names +
                        " (a tool that needs approval); keel chat runs no tools");
  }
  if (failure) co_return *failure;
  co_return answer;
}

}  // namespace

int chat(const std::vector<std::string>& args) {
  if (args.empty() || args[0].starts_with("--")) {
    std::fputs("usage: keel chat MODEL [--url URL]\n", stderr);
    return 2;
  }
  std::string model = args[0];
  const std::optional<Url> base = running_keel_url(args, "chat");
  if (!base) return 2;
  const char* key_env = std::getenv("KEEL_API_KEY");
  std::string api_key = key_env ? key_env : "";
  std::fprintf(stderr, "chatting with %s at %s://%s:%u%s (Ctrl-D to quit)\n", model.c_str(),
               base->tls ? "https" : "http", base->host.c_str(), base->port,
               base->target.c_str());
  Json messages = Json::array();
  asio::io_context context;
  std::string line;
  bool interactive = isatty(STDIN_FILENO);
  bool last_failed = false;
  while (true) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    Json body = {{"model", model}, {"messages", messages}, {"stream", true}};
    Result<std::string> answer = Error(ErrorCode::kInternal, "not run");
    auto turn = [&]() -> Task<void> { answer = co_await stream_turn(*base, api_key, body); };
    asio::co_spawn(context, turn(), asio::detached);
    context.restart();
    context.run();
    last_failed = !answer;
    if (!answer) {
      std::fprintf(stderr, "error: %s\n", answer.error().message.c_str());
      messages.erase(messages.size() - 1);
      continue;
    }
    messages.push_back({{"role", "assistant"}, {"content", *answer}});
  }
  http_pool_clear();
  return last_failed ? 1 : 0;
}

}  // namespace keel::cli

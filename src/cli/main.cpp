// keel's command line: thin over the libraries.
//
//   keel serve [--config FILE] [--listen HOST:PORT]
//   keel config check FILE
//   keel models [--config FILE] [--models-dir DIR]
//   keel pull SOURCE [--sha256 HEX] [--models-dir DIR] [--force]
//   keel chat MODEL [--url URL]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/log.h"

namespace {

void usage() {
  std::fputs(
      "usage: keel <command> [options]\n"
      "\n"
      "  serve [--config FILE] [--listen HOST:PORT]\n"
      "        serve the OpenAI-compatible API (default config: ./keel.yaml, else built in)\n"
      "  config check FILE      validate a config file\n"
      "  models [--config FILE] [--models-dir DIR]\n"
      "                         list the public model names and their targets, and the\n"
      "                         local model files (.gguf) in the models folder\n"
      "  pull SOURCE [--sha256 HEX] [--models-dir DIR] [--force]\n"
      "                         download a model file into the models folder (resumes, checks\n"
      "                         sha256); SOURCE: an http(s) URL or hf:OWNER/REPO/FILE\n"
      "                         (models folder default $KEEL_MODELS_DIR, else\n"
      "                          $XDG_CACHE_HOME/keel/models or ~/.cache/keel/models)\n"
      "  chat MODEL [--url URL] chat in the terminal with a running keel\n"
      "                         (URL default $KEEL_URL or http://127.0.0.1:8080/v1;\n"
      "                          key from $KEEL_API_KEY)\n"
      "  eval TARGET --data FILE [--models a,b] [--evaluators e1,e2] [--judge MODEL]\n"
      "       [--column-mapping k='${data.col}' ...] [--out DIR]   evaluate models on a data set\n"
      "  eval compare DIR_A DIR_B  which differences between two eval runs are significant\n"
      "  shadow report MODEL [--json]  quality, latency and cost of a model's shadow candidate\n"
      "  reload [--url URL]     a running keel reloads its config file (as SIGHUP does)\n"
      "  trace ID [--json]      a request's (req_...), eval row's or shadow pair's trace as a\n"
      "                         tree: durations, status, key attributes\n"
      "  prompt run NAME [--input k=v ...] [--config FILE] [--json]\n"
      "                         run a configured prompt (its variant per target) and print\n"
      "                         the answer\n"
      "  flow check PATH [--variant NODE=ID ...]\n"
      "                         check a Prompt flow folder (flow.dag.yaml) before it runs\n"
      "  flow run PATH [--inputs k=v ... | FILE] [--model NAME=PUBLIC ...] [--config FILE]\n"
      "                         run it once (prompt and llm nodes) and print its outputs\n"
      "  ingest NAME [--config FILE] [--json]\n"
      "                         ingest a knowledge base's sources (incremental)\n"
      "  search NAME QUERY [--k N] [--mode fused|vector|exact|keyword] [--rerank] [--json]\n"
      "                         search a knowledge base and print the chunks found\n"
      "  capabilities           the provider kind x feature matrix (markdown)\n"
      "  tools list | call [TOOLSET/]NAME --args JSON | approve [TOOLSET[/TOOL]]\n"
      "                         the configured toolsets' tools; call one; approve changed\n"
      "                         MCP tool definitions ([--config FILE] [--json])\n"
      "  fixture --arch llama|bert [--seed N] OUT.gguf  write a tiny random-weight test model\n"
      "  version\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (const char* level = std::getenv("KEEL_LOG_LEVEL")) {
    std::string name = level;
    if (name == "debug") keel::set_log_level(keel::LogLevel::kDebug);
    if (name == "warn") keel::set_log_level(keel::LogLevel::kWarn);
    if (name == "error") keel::set_log_level(keel::LogLevel::kError);
  }
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    usage();
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "serve") return keel::cli::serve(args);
  if (command == "config") return keel::cli::config(args);
  if (command == "models") return keel::cli::models(args);
  if (command == "chat") return keel::cli::chat(args);
  if (command == "capabilities") return keel::cli::capabilities(args);
  if (command == "fixture") return keel::cli::fixture(args);
  if (command == "pull") return keel::cli::pull(args);
  if (command == "eval") return keel::cli::eval(args);
  if (command == "reload") return keel::cli::reload(args);
  if (command == "shadow") return keel::cli::shadow(args);
  if (command == "tools") return keel::cli::tools(args);
  if (command == "trace") return keel::cli::trace(args);
  if (command == "prompt") return keel::cli::prompt(args);
  if (command == "flow") return keel::cli::flow(args);
  if (command == "ingest") return keel::cli::ingest(args);
  if (command == "search") return keel::cli::search(args);
  if (command == "version" || command == "--version") {
#ifdef KEEL_HAS_LLAMA
    std::puts("keel 0.1.0 (local engine: llama.cpp)");
#else
    std::puts("keel 0.1.0 (no local engine: built without llama.cpp)");
#endif
    return 0;
  }
  std::fprintf(stderr, "keel: unknown command '%s'\n\n", command.c_str());
  usage();
  return 2;
}

// keel's configuration: the structs, checked once at load.
//
//   auto config = load_config_file("keel.yaml");     // YAML, ${VAR} interpolated
//   if (!config) { std::cerr << config.error().message; }   // "keel.yaml:12: providers[0].kind: ..."
//
// Loading validates everything (unknown keys, bad values, references between sections) so the
// rest of keel can trust these structs. The YAML format is DESIGN.md's "Config" section.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/result.h"

namespace keel {

enum class ProviderKind { kOpenAI, kAzure, kAnthropic, kGemini, kLocal };
const char* provider_kind_name(ProviderKind kind);

struct ProviderConfig {
  std::string name;
  ProviderKind kind = ProviderKind::kOpenAI;
  std::string base_url;        // empty: the kind's default
  std::string api_key;         // never logged, never stored
  std::string api_version;     // azure
  std::map<std::string, std::string> headers;  // extra headers sent upstream
  // local
  std::string model_path;
  int threads = 0;             // 0: number of cores
  int parallel = 4;
  int context = 0;             // 0: the model's own
  int poll = 1;                // compute threads' spin between decodes, 0-100 (llama.cpp's --poll)
  // Timeouts toward this provider.
  int connect_timeout_ms = 5000;
  // openai, azure: whether the upstream takes document (file) input. Unset: OpenAI's own API
  // (no base_url, or api.openai.com) and Azure do, other OpenAI-compatible servers do not.
  std::optional<bool> documents;
};

enum class Strategy { kFailover, kWeighted, kLeastLatency };
const char* strategy_name(Strategy strategy);

struct TargetConfig {
  std::string provider;        // a ProviderConfig::name
  std::string model;           // the upstream's model name (azure: deployment)
  double weight = 1.0;
};

// `shadow:` on a public model: mirror a share of its requests to a candidate model after the
// client has its answer, off the request path, and score the pair (keel shadow report).
struct ShadowConfig {
  std::string model;   // a public model name (not this one)
  double percent = 0;  // 0-100: share of successful requests mirrored
  std::vector<std::string> evaluators = {"f1", "rouge_l"};  // candidate vs the served answer
  int max_concurrency = 4;  // mirrored requests at once; more are dropped, counted
  std::string judge;        // a public model for LLM-judge evaluators ("" none)
  std::string embedding_model;  // a public model for embedding_similarity ("" none)
};

// A set of tools (`toolsets:`, DESIGN.md "Config for tools"): Semantic Kernel's plugins.
enum class ToolsetKind { kMcp, kBuiltin, kOpenApi };
const char* toolset_kind_name(ToolsetKind kind);

struct ToolsetConfig {
  std::string name;
  ToolsetKind kind = ToolsetKind::kBuiltin;
  std::vector<std::string> allow;      // only these tools (empty: all)
  // mcp over stdio: a child process, as MCP clients' configs write it.
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  // mcp over streamable HTTP.
  std::string url;
  std::map<std::string, std::string> headers;   // never logged
  // builtin: which tools; the egress guard's exceptions for http_fetch (and openapi calls).
  std::vector<std::string> tools;
  std::vector<std::string> allow_hosts;
  // openapi: the spec file, the API's URL (default: the spec's first server), which operations
  // (operationIds or tool names; empty: all), and the credentials every call carries.
  std::string spec;
  std::string base_url;
  std::vector<std::string> operations;
  // openapi: a curated set of a known API's operations and its auth (tools/openapi/presets.h);
  // `operations` then adds more.
  std::string preset;
  struct Auth {
    std::string type;                            // "" | bearer | basic | api_key
    std::string token;                           // bearer
    std::string username, password;              // basic
    std::string in = "header";                   // api_key: header | query
    std::map<std::string, std::string> values;   // api_key: name -> value (Trello: key, token)
  } auth;
  int timeout_ms = 30000;              // per tool call
  int startup_timeout_ms = 30000;      // mcp: from starting the server to its initialize answer
  int64_t max_output_bytes = 65536;    // a tool's result is cut here, with a note saying so
};

struct ModelConfig {
  std::string name;            // the public name clients ask for
  std::vector<std::string> tools;   // toolsets whose tools keel runs itself (the tool loop)
  int max_tool_rounds = 8;          // model calls in one tool loop, the answering one included
  Strategy strategy = Strategy::kFailover;
  int retries = 1;             // extra attempts on the same target, retryable errors only
  int timeout_ms = 60000;      // per attempt, until the last byte
  int first_token_timeout_ms = 20000;
  std::vector<TargetConfig> targets;
  std::optional<ShadowConfig> shadow;
};

// `prompts:` (DESIGN.md): a named .prompty file with per-target variants. Paths as written;
// relative ones are relative to the config file's folder. Files are read by src/prompts/.
struct PromptConfig {
  std::string name;
  std::string file;   // the default variant
  std::string model;  // the public model it runs on; empty: the file's model id
  // Key -> file, in the config's order: a provider kind, a provider name, or a glob over the
  // target's upstream model name ("gpt-4o*").
  std::vector<std::pair<std::string, std::string>> variants;
  int line = 0;  // of the entry, for messages
};

// `flows:` (DESIGN.md): a named Prompt flow folder, read by src/flows/. `models`: an llm
// node's connection, deployment or model name -> a public model.
struct FlowConfig {
  std::string name;
  std::string path;  // relative ones from the config file's folder
  std::map<std::string, std::string> models;
  int line = 0;
};

// `copilots:` (DESIGN.md): a declarative copilot, served under its name as a public name
// (src/copilots/). A name in models:, copilots: and flows: shares one namespace.
struct CopilotConfig {
  std::string name;
  std::string instructions;        // inline text (empty when instructions_file is set)
  std::string instructions_file;   // a .prompty file; relative ones from the config file's folder
  std::string model;               // a public model: its failover and targets apply
  std::vector<std::string> tools;  // toolsets whose tools keel runs (the tool loop)
  std::vector<std::string> knowledge;  // knowledge bases searched with the user's last message
  std::vector<std::string> starters;   // suggested first questions, for clients to show
  int max_tool_rounds = 8;             // model calls in one turn, the answering one included
  // Tools keel does not run itself: a call goes back to the client as an ordinary tool call,
  // and the client's result continues the turn. Each entry names a tool as models see it, a
  // `toolset/tool`, or a whole toolset.
  std::vector<std::string> approval;
  int top_k = 5;  // passages retrieved per turn, over all its knowledge bases
  int line = 0;   // of the entry, for messages
};

// `knowledge:` (DESIGN.md): a knowledge base, ingested by src/knowledge/ (`keel ingest NAME`).
// Paths as written; relative ones are relative to the config file's folder.
struct KnowledgeConfig {
  std::string name;
  std::vector<std::string> sources;  // files, folders (recursive), globs (*, ?, [..], **)
  std::string embedding_model;       // a public model with a target that serves embeddings
  int chunk_tokens = 300;            // a chunk's size, in estimated tokens (src/knowledge/chunk.h)
  int overlap_tokens = 50;           // what a chunk repeats of the one before it in its section
  std::string rerank_model;          // a public chat model that reranks fused results; "" none
  std::string index;                 // the index's folder; "": .keel-knowledge/NAME
  int embed_batch = 32;              // chunks per embeddings request
  // The most tokens the embedding model takes per input; 0: what its target says
  // (Provider::count_embed_tokens). Chunks over it are split (src/knowledge/embed_chunks.h).
  int embedding_max_tokens = 0;
  int line = 0;
};

struct RouterConfig {
  int backoff_base_ms = 100;         // first retry waits about this long, doubling each time
  int backoff_max_ms = 2000;
  int retry_after_cap_ms = 5000;     // Retry-After longer than this: fail over instead of waiting
  int breaker_failures = 5;          // consecutive failures that open a target's breaker
  int breaker_cooldown_ms = 30000;   // open → half-open after this long
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 1;                       // io threads; 0: number of cores
  size_t max_body_bytes = 8 * 1024 * 1024;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;           // keep-alive connections idle this long are closed
  int body_timeout_ms = 30000;
  int send_timeout_ms = 60000;           // a client that takes no response bytes this long is cut
  int shutdown_grace_ms = 10000;         // SIGTERM: in-flight requests get this long to finish
  int max_in_flight = 0;                 // 0: unlimited; past it new requests get 503
};

// How long the request log keeps requests (`log_retention:`). A config without the key (the
// built-in one too) gets these bounds: a request's rows are about 280 bytes without content, so
// the log stays within about 3 GB. A `log_retention:` map replaces them whole: a key it leaves
// out is 0, and {days: 0, max_requests: 0} keeps every request.
struct LogRetentionConfig {
  int64_t days = 30;                  // 0: no age limit; else requests that started longer ago go
  int64_t max_requests = 10'000'000;  // 0: no count limit; else the oldest beyond this many go
};

// `tracing:` OTLP/HTTP JSON export of every request's trace (DESIGN.md "Traces"); traces are
// kept in the state store either way. Off while otlp_endpoint is empty.
struct TracingConfig {
  std::string otlp_endpoint;  // http(s)://host:port[/path]; no path: /v1/traces (OTLP's default)
  std::map<std::string, std::string> headers;  // sent with each export (a collector's key)
  std::string service_name = "keel";           // resource attribute service.name
  int batch_spans = 512;                       // spans per export request at most
  int queue_traces = 2048;       // traces waiting for the exporter; more are dropped, counted
  int flush_interval_ms = 1000;  // longest wait before a partial batch goes out
  int timeout_ms = 10'000;       // per export request
};

// `pricing:` what a target's tokens cost, per million tokens, in the user's currency (keel ships
// no prices: they change). Keyed by "provider/model" or by the upstream model name alone.
struct ModelPrice {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
};

struct Config {
  std::string source;                    // file name, or "<built-in>"
  ServerConfig server;                   // `listen:` fills host and port
  std::string state = "sqlite:keel.db";
  bool log_content = false;
  // One line per request on stderr (id, route, model, target, status, duration, tokens), at
  // info level; without it the same lines come at KEEL_LOG_LEVEL=debug only.
  bool access_log = false;
  LogRetentionConfig log_retention;
  TracingConfig tracing;
  std::vector<std::string> api_keys;     // empty entries are dropped
  // Bearer keys for /admin/... (the console's log and model pages). None: /admin is open when
  // api_keys is empty too (keel then listens on loopback only), else off (403).
  std::vector<std::string> admin_keys;
  std::vector<ProviderConfig> providers;
  std::vector<ModelConfig> models;
  std::vector<ToolsetConfig> toolsets;
  std::vector<PromptConfig> prompts;
  std::vector<FlowConfig> flows;
  std::vector<CopilotConfig> copilots;
  std::vector<KnowledgeConfig> knowledge;
  // `vector_stores:` (embedding_model, chunk_tokens, overlap_tokens, embed_batch,
  // embedding_max_tokens): how /v1/vector_stores chunks and embeds uploaded files; without an
  // embedding_model they are off.
  KnowledgeConfig vector_stores;
  RouterConfig router;
  std::map<std::string, ModelPrice> pricing;
  // Unset ${VAR}s seen while loading, for warnings.
  std::vector<std::string> unset_vars;

  const ProviderConfig* find_provider(const std::string& name) const;
  const ModelConfig* find_model(const std::string& name) const;
  // The price of `provider`'s `model` ("provider/model" first, then "model"); null when unpriced.
  const ModelPrice* find_price(const std::string& provider, const std::string& model) const;
  const ToolsetConfig* find_toolset(const std::string& name) const;
  const PromptConfig* find_prompt(const std::string& name) const;
  const CopilotConfig* find_copilot(const std::string& name) const;
  const KnowledgeConfig* find_knowledge(const std::string& name) const;
};

// The tools `kind: builtin` offers (src/tools/builtin/).
inline constexpr const char* kBuiltinToolNames[] = {"current_time", "calculator", "http_fetch"};
// The presets `kind: openapi` offers (src/tools/openapi/presets.cpp).
inline constexpr const char* kOpenApiPresetNames[] = {"jira", "trello", "servicenow", "sap"};

// Parses and validates YAML text. `source` names the file in error messages. A `listen:` on a
// non-loopback host without api_keys is refused (DESIGN.md: keys are required there).
Result<Config> parse_config(const std::string& yaml_text, const std::string& source);
Result<Config> load_config_file(const std::string& path);

// Where a config problem is, for an editor to mark: line and column 1-based (column 0: the
// line only), the key's path ("knowledge[0]"), and why.
struct ConfigProblem {
  int line = 1;
  int column = 0;
  std::string path;
  std::string reason;
};

// One `copilots:` entry as YAML text (the map, or a one-item list as keel.yaml writes it),
// loaded as parse_config loads one and checked against `config`: its models, toolsets,
// knowledge bases and public names. A copilot of the same name in `config` is the one being
// edited, not a duplicate. Lines count from the text's first line.
std::variant<CopilotConfig, ConfigProblem> parse_copilot_entry(const std::string& yaml_text,
                                                               const Config& config);

// Interpolates ${VAR} and ${VAR:-default} from the environment. Unset variables without a
// default expand to "" and are appended to `unset` (when given).
std::string interpolate_env(const std::string& text, std::vector<std::string>* unset = nullptr);

// True for 127.0.0.0/8, ::1 (bracketed or not) and "localhost".
bool is_loopback_host(const std::string& host);

// `listen:` and command-line overrides: "host:port" or "[v6]:port"; port 0 asks for an
// ephemeral port. The host comes back without brackets.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> parse_listen(const std::string& text);

}  // namespace keel

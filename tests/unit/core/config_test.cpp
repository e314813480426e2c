#include "core/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace keel {
namespace {

const std::string kTestdata = std::string(KEEL_SOURCE_DIR) + "/tests/unit/core/testdata/";

// Sets (or unsets) an environment variable for one test, restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The message of a config that must fail to load.
std::string error_of(const std::string& yaml) {
  auto config = parse_config(yaml, "keel.yaml");
  if (config) return "(loaded without error)";
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  return config.error().message;
}

Config load_ok(const std::string& yaml) {
  auto config = parse_config(yaml, "keel.yaml");
  EXPECT_TRUE(config.ok()) << config.error().message;
  return config ? *config : Config{};
}

// A valid provider section that error tests build on (lines 1-4).
const std::string kProviders =
    "providers:\n"
    "  - name: openai\n"
    "    kind: openai\n"
    "    api_key: sk-test\n";

// ---- the good path ----------------------------------------------------------------------------

TEST(ConfigTest, FullExampleLoads) {
  ScopedEnv api("KEEL_TEST_API_KEY", "client-key");
  ScopedEnv openai("KEEL_TEST_OPENAI_API_KEY", "sk-openai");
  ScopedEnv claude("KEEL_TEST_ANTHROPIC_API_KEY", "sk-ant");
  ScopedEnv gemini("KEEL_TEST_GEMINI_API_KEY", "g-key");
  ScopedEnv azure("KEEL_TEST_AZURE_OPENAI_API_KEY", "az-key");

  auto loaded = load_config_file(kTestdata + "keel.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& config = *loaded;

  EXPECT_EQ(config.source, kTestdata + "keel.yaml");
  EXPECT_EQ(config.server.host, "127.0.0.1");
  EXPECT_EQ(config.server.port, 8080);
  EXPECT_EQ(config.state, "sqlite:keel.db");
  EXPECT_FALSE(config.log_content);
  EXPECT_EQ(config.api_keys, std::vector<std::string>{"client-key"});
  EXPECT_TRUE(config.unset_vars.empty());

  ASSERT_EQ(config.providers.size(), 5u);
  const ProviderConfig* openai_config = config.find_provider("openai");
  ASSERT_NE(openai_config, nullptr);
  EXPECT_EQ(openai_config->kind, ProviderKind::kOpenAI);
  EXPECT_EQ(openai_config->base_url, "https://api.openai.com/v1");
  EXPECT_EQ(openai_config->api_key, "sk-openai");
  EXPECT_EQ(openai_config->headers.at("OpenAI-Organization"), "org-123");
  EXPECT_EQ(openai_config->connect_timeout_ms, 5000);

  const ProviderConfig* claude_config = config.find_provider("claude");
  ASSERT_NE(claude_config, nullptr);
  EXPECT_EQ(claude_config->kind, ProviderKind::kAnthropic);
  EXPECT_EQ(claude_config->base_url, "");  // the kind's default
  EXPECT_EQ(claude_config->api_key, "sk-ant");

  EXPECT_EQ(config.find_provider("gemini")->kind, ProviderKind::kGemini);

  const ProviderConfig* azure_config = config.find_provider("azure");
  ASSERT_NE(azure_config, nullptr);
  EXPECT_EQ(azure_config->kind, ProviderKind::kAzure);
  EXPECT_EQ(azure_config->base_url, "https://example.openai.azure.com");  // trailing '/' dropped
  EXPECT_EQ(azure_config->api_version, "2024-10-21");

  const ProviderConfig* local = config.find_provider("local");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->kind, ProviderKind::kLocal);
  EXPECT_EQ(local->model_path, "models/qwen3-0.6b-q4_k_m.gguf");
  EXPECT_EQ(local->threads, 2);
  EXPECT_EQ(local->parallel, 4);
  EXPECT_EQ(local->context, 4096);
  EXPECT_EQ(local->poll, 1);  // the default

  EXPECT_EQ(config.find_provider("nope"), nullptr);

  ASSERT_EQ(config.models.size(), 2u);
  const ModelConfig* smart = config.find_model("smart");
  ASSERT_NE(smart, nullptr);
  EXPECT_EQ(smart->strategy, Strategy::kFailover);
  EXPECT_EQ(smart->retries, 1);
  EXPECT_EQ(smart->timeout_ms, 60000);
  EXPECT_EQ(smart->first_token_timeout_ms, 20000);
  ASSERT_EQ(smart->targets.size(), 3u);
  EXPECT_EQ(smart->targets[0].provider, "openai");
  EXPECT_EQ(smart->targets[0].model, "gpt-4o-mini");
  EXPECT_EQ(smart->targets[0].weight, 1.0);
  EXPECT_EQ(smart->targets[1].provider, "claude");
  EXPECT_EQ(smart->targets[1].model, "claude-sonnet-4-5");
  EXPECT_EQ(smart->targets[2].provider, "local");
  EXPECT_EQ(smart->targets[2].model, "default");

  const ModelConfig* cheap = config.find_model("cheap");
  ASSERT_NE(cheap, nullptr);
  EXPECT_EQ(cheap->strategy, Strategy::kWeighted);
  EXPECT_EQ(cheap->retries, 1);  // default
  ASSERT_EQ(cheap->targets.size(), 2u);
  EXPECT_DOUBLE_EQ(cheap->targets[0].weight, 0.25);
  EXPECT_DOUBLE_EQ(cheap->targets[1].weight, 3.0);
  EXPECT_EQ(config.find_model("nope"), nullptr);

  EXPECT_EQ(config.router.backoff_base_ms, 50);
  EXPECT_EQ(config.router.backoff_max_ms, 1000);
  EXPECT_EQ(config.router.retry_after_cap_ms, 4000);
  EXPECT_EQ(config.router.breaker_failures, 3);
  EXPECT_EQ(config.router.breaker_cooldown_ms, 10000);

  EXPECT_EQ(config.server.threads, 2);
  EXPECT_EQ(config.server.max_body_bytes, 1048576u);
  EXPECT_EQ(config.server.header_timeout_ms, 5000);
  EXPECT_EQ(config.server.idle_timeout_ms, 30000);
  EXPECT_EQ(config.server.body_timeout_ms, 20000);
  EXPECT_EQ(config.server.shutdown_grace_ms, 3000);
  EXPECT_EQ(config.server.max_in_flight, 64);
}

TEST(ConfigTest, EmptyDocumentGivesDefaults) {
  for (const std::string text : {"", "# only a comment\n", "---\n"}) {
    Config config = load_ok(text);
    EXPECT_EQ(config.source, "keel.yaml");
    EXPECT_EQ(config.server.host, "127.0.0.1");
    EXPECT_EQ(config.server.port, 8080);
    EXPECT_EQ(config.state, "sqlite:keel.db");
    EXPECT_TRUE(config.providers.empty());
    EXPECT_TRUE(config.models.empty());
    EXPECT_EQ(config.router.breaker_failures, 5);
    EXPECT_EQ(config.server.max_body_bytes, 8u * 1024 * 1024);
  }
}

TEST(ConfigTest, EmptySectionsAreAllowed) {
  Config config = load_ok("providers:\nmodels: []\nrouter:\nserver: {}\napi_keys:\n");
  EXPECT_TRUE(config.providers.empty());
  EXPECT_TRUE(config.models.empty());
}

TEST(ConfigTest, LogContentAndModelDefaults) {
  Config config = load_ok(kProviders +
                          "log_content: true\n"
                          "models:\n"
                          "  - name: m\n"
                          "    strategy: least-latency\n"
                          "    retries: 0\n"
                          "    targets: [{provider: openai, model: gpt-4o}]\n");
  EXPECT_TRUE(config.log_content);
  ASSERT_EQ(config.models.size(), 1u);
  EXPECT_EQ(config.models[0].strategy, Strategy::kLeastLatency);
  EXPECT_EQ(config.models[0].retries, 0);
  EXPECT_EQ(config.models[0].timeout_ms, 60000);
  EXPECT_EQ(config.models[0].first_token_timeout_ms, 20000);
}

TEST(ConfigTest, LogRetention) {
  struct Case {
    std::string yaml;
    int64_t days;
    int64_t max_requests;
  };
  const Case cases[] = {
      // Without the key (the built-in config too) the log is bounded; so it is when the key's
      // map is all commented out, as for the other sections.
      {"", 30, 10'000'000},
      {"log_retention:\n  # days: 0\n", 30, 10'000'000},
      // A map replaces the bounds whole: what it leaves out is off, zeros keep everything.
      {"log_retention:\n  days: 30\n  max_requests: 5000000\n", 30, 5'000'000},
      {"log_retention: {max_requests: 10}\n", 0, 10},
      {"log_retention: {days: 7}\n", 7, 0},
      {"log_retention: {days: 0, max_requests: 0}\n", 0, 0},
      {"log_retention: {}\n", 0, 0},
  };
  for (const auto& c : cases) {
    Config config = load_ok(kProviders + c.yaml);
    EXPECT_EQ(config.log_retention.days, c.days) << c.yaml;
    EXPECT_EQ(config.log_retention.max_requests, c.max_requests) << c.yaml;
  }
}

TEST(ConfigTest, Tracing) {
  EXPECT_EQ(load_ok(kProviders).tracing.otlp_endpoint, "");  // export off by default
  Config config = load_ok(kProviders +
                          "tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n"
                          "  headers: {x-collector-key: k}\n  flush_interval_ms: 50\n");
  EXPECT_EQ(config.tracing.otlp_endpoint, "http://127.0.0.1:4318");
  EXPECT_EQ(config.tracing.headers.at("x-collector-key"), "k");
  EXPECT_EQ(config.tracing.flush_interval_ms, 50);
  EXPECT_EQ(config.tracing.batch_spans, 512);
  EXPECT_NE(error_of(kProviders + "tracing: {otlp_endpoint: ftp://x}\n").find("http://"),
            std::string::npos);
  EXPECT_NE(error_of(kProviders + "tracing: {batch_spans: 0}\n").find("batch_spans"),
            std::string::npos);
  EXPECT_NE(error_of(kProviders + "tracing: {endpoint: http://x}\n").find("endpoint"),
            std::string::npos);
}

TEST(ConfigTest, NamesOfEnums) {
  EXPECT_STREQ(provider_kind_name(ProviderKind::kOpenAI), "openai");
  EXPECT_STREQ(provider_kind_name(ProviderKind::kAzure), "azure");
  EXPECT_STREQ(provider_kind_name(ProviderKind::kAnthropic), "anthropic");
  EXPECT_STREQ(provider_kind_name(ProviderKind::kGemini), "gemini");
  EXPECT_STREQ(provider_kind_name(ProviderKind::kLocal), "local");
  EXPECT_STREQ(strategy_name(Strategy::kFailover), "failover");
  EXPECT_STREQ(strategy_name(Strategy::kWeighted), "weighted");
  EXPECT_STREQ(strategy_name(Strategy::kLeastLatency), "least-latency");
}

// ---- files ------------------------------------------------------------------------------------

TEST(ConfigTest, MissingFileIsNotFound) {
  auto config = load_config_file("/nonexistent/keel.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kNotFound);
  EXPECT_NE(config.error().message.find("/nonexistent/keel.yaml"), std::string::npos);
}

TEST(ConfigTest, DirectoryIsNotAConfigFile) {
  auto config = load_config_file(kTestdata);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(config.error().message.find(kTestdata), std::string::npos);
}

TEST(ConfigTest, FileErrorsNameTheFile) {
  auto config = load_config_file(kTestdata + "bad_kind.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            kTestdata +
                "bad_kind.yaml:3: providers[0].kind: unknown kind \"opnai\" "
                "(expected openai, azure, anthropic, gemini, local)");
}

// ---- YAML syntax and shape --------------------------------------------------------------------

TEST(ConfigErrorTest, SyntaxErrorHasParserLine) {
  // An open flow list runs on: the parser notices on the next line.
  EXPECT_EQ(error_of("state: x\nlisten: [1\nmodels: []\n"),
            "keel.yaml:3: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(error_of("state: x\nlisten: a: b\n"), "keel.yaml:2: invalid YAML: illegal map value");
}

TEST(ConfigErrorTest, TopLevelMustBeAMap) {
  EXPECT_EQ(error_of("- a\n- b\n"), "keel.yaml:1: expected a map, got a list");
  EXPECT_EQ(error_of("just text\n"), "keel.yaml:1: expected a map, got a scalar");
}

TEST(ConfigErrorTest, OneDocumentOnly) {
  EXPECT_EQ(error_of("state: a\n---\nstate: b\n"),
            "keel.yaml:3: expected one YAML document, found 2");
}

TEST(ConfigErrorTest, UnknownTopLevelKey) {
  EXPECT_EQ(error_of("state: x\n\nlisen: 127.0.0.1:80\n"),
            "keel.yaml:3: lisen: unknown key (expected one of listen, state, log_content, "
            "log_retention, access_log, api_keys, admin_keys, providers, models, router, server, "
            "pricing, toolsets, prompts, flows, knowledge, vector_stores, copilots, tracing)");
}

TEST(ConfigTest, AdminKeysAreTheirOwnList) {
  ScopedEnv admin("KEEL_TEST_ADMIN_KEY", "admin-secret");
  Config config = load_ok(
      "api_keys: [client]\nadmin_keys: [${KEEL_TEST_ADMIN_KEY}, ${KEEL_TEST_UNSET_ADMIN}]\n");
  EXPECT_EQ(config.api_keys, std::vector<std::string>{"client"});
  // The unset variable's empty entry is dropped, as in api_keys.
  EXPECT_EQ(config.admin_keys, std::vector<std::string>{"admin-secret"});
  EXPECT_TRUE(load_ok("models: []\n").admin_keys.empty());
  EXPECT_EQ(error_of("admin_keys: key\n"),
            "keel.yaml:1: admin_keys: expected a list, got a scalar");
}

TEST(ConfigTest, PromptsWithVariants) {
  Config config = load_ok(kProviders +
                          "models:\n"
                          "  - name: smart\n"
                          "    targets: [{provider: openai, model: gpt-4o}]\n"
                          "prompts:\n"
                          "  - name: summarize\n"
                          "    file: prompts/summarize.prompty\n"
                          "    model: smart\n"
                          "    variants: {anthropic: a.prompty, \"gpt-4o*\": g.prompty}\n");
  ASSERT_EQ(config.prompts.size(), 1u);
  const PromptConfig& prompt = config.prompts[0];
  EXPECT_EQ(prompt.name, "summarize");
  EXPECT_EQ(prompt.file, "prompts/summarize.prompty");
  EXPECT_EQ(prompt.model, "smart");
  EXPECT_EQ(prompt.line, 9);
  EXPECT_EQ(prompt.variants, (std::vector<std::pair<std::string, std::string>>{
                                 {"anthropic", "a.prompty"}, {"gpt-4o*", "g.prompty"}}));
  EXPECT_EQ(config.find_prompt("summarize"), &config.prompts[0]);
}

TEST(ConfigTest, FlowsWithModelMaps) {
  Config config = load_ok(kProviders +
                          "models:\n"
                          "  - name: smart\n"
                          "    targets: [{provider: openai, model: gpt-4o}]\n"
                          "flows:\n"
                          "  - name: classify\n"
                          "    path: flows/web-classification\n"
                          "    models: {open_ai_connection: smart}\n");
  ASSERT_EQ(config.flows.size(), 1u);
  EXPECT_EQ(config.flows[0].path, "flows/web-classification");
  EXPECT_EQ(config.flows[0].models.at("open_ai_connection"), "smart");
  EXPECT_EQ(error_of("flows:\n  - {name: f, path: p, models: {c: nope}}\n"),
            "keel.yaml:2: flows[0].models.c: no model named \"nope\"");
  EXPECT_EQ(error_of("flows:\n  - {name: f}\n"),
            "keel.yaml:2: flows[0]: missing required key \"path\"");
}

TEST(ConfigErrorTest, PromptEntries) {
  EXPECT_EQ(error_of("prompts:\n  - name: p\n"),
            "keel.yaml:2: prompts[0]: missing required key \"file\"");
  EXPECT_EQ(error_of("prompts:\n  - {name: p, file: p.prompty, model: nope}\n"),
            "keel.yaml:2: prompts[0].model: no model named \"nope\"");
  EXPECT_EQ(error_of("prompts:\n  - {name: p, file: a}\n  - {name: p, file: b}\n"),
            "keel.yaml:3: prompts[1].name: duplicate prompt name \"p\"");
  EXPECT_EQ(error_of("prompts:\n  - {name: p, file: a, variants: [x]}\n"),
            "keel.yaml:2: prompts[0].variants: expected a map, got a list");
}

TEST(ConfigErrorTest, LogRetentionValues) {
  EXPECT_EQ(error_of("log_retention:\n  days: -1\n"),
            "keel.yaml:2: log_retention.days: must be at least 0, got -1");
  EXPECT_EQ(error_of("log_retention:\n  days: 36501\n"),
            "keel.yaml:2: log_retention.days: must be at most 36500, got 36501");
  EXPECT_EQ(error_of("log_retention:\n  max_requests: lots\n"),
            "keel.yaml:2: log_retention.max_requests: expected an integer, got \"lots\"");
  EXPECT_EQ(error_of("log_retention:\n  hours: 3\n"),
            "keel.yaml:2: log_retention.hours: unknown key (expected one of days, max_requests)");
  EXPECT_EQ(error_of("log_retention: 30\n"),
            "keel.yaml:1: log_retention: expected a map, got a scalar");
}

TEST(ConfigErrorTest, RepeatedKey) {
  EXPECT_EQ(error_of("state: a\nlog_content: true\nstate: b\n"),
            "keel.yaml:3: state: repeated key (first at line 1)");
}

TEST(ConfigErrorTest, WrongShapes) {
  EXPECT_EQ(error_of("state: [a]\n"), "keel.yaml:1: state: expected a string, got a list");
  EXPECT_EQ(error_of("state:\n"), "keel.yaml:1: state: missing value (expected a string)");
  EXPECT_EQ(error_of("state: \"\"\n"), "keel.yaml:1: state: must not be empty");
  EXPECT_EQ(error_of("providers: openai\n"),
            "keel.yaml:1: providers: expected a list, got a scalar");
  EXPECT_EQ(error_of("providers:\n  - openai\n"),
            "keel.yaml:2: providers[0]: expected a map, got a scalar");
  EXPECT_EQ(error_of("router: [1]\n"), "keel.yaml:1: router: expected a map, got a list");
  EXPECT_EQ(error_of("api_keys: key\n"), "keel.yaml:1: api_keys: expected a list, got a scalar");
  EXPECT_EQ(error_of("api_keys:\n  - {a: b}\n"),
            "keel.yaml:2: api_keys[0]: expected a string, got a map");
}

TEST(ConfigErrorTest, Booleans) {
  EXPECT_TRUE(load_ok("log_content: yes\n").log_content);
  EXPECT_FALSE(load_ok("log_content: False\n").log_content);
  EXPECT_EQ(error_of("\nlog_content: maybe\n"),
            "keel.yaml:2: log_content: expected true or false, got \"maybe\"");
}

// ---- server and router ------------------------------------------------------------------------

TEST(ConfigErrorTest, NumbersMustBeNumbers) {
  EXPECT_EQ(error_of("server:\n  threads: 1\n  header_timeout_ms: abc\n"),
            "keel.yaml:3: server.header_timeout_ms: expected an integer, got \"abc\"");
  EXPECT_EQ(error_of("server:\n  threads: 1.5\n"),
            "keel.yaml:2: server.threads: expected an integer, got \"1.5\"");
  EXPECT_EQ(error_of("server:\n  threads: 12abc\n"),
            "keel.yaml:2: server.threads: expected an integer, got \"12abc\"");
  EXPECT_EQ(error_of("server:\n  threads: \"\"\n"),
            "keel.yaml:2: server.threads: expected an integer, got \"\"");
  EXPECT_EQ(error_of("server:\n  threads:\n"),
            "keel.yaml:2: server.threads: missing value (expected an integer)");
  EXPECT_EQ(error_of("server:\n  max_in_flight: 99999999999999999999999\n"),
            "keel.yaml:2: server.max_in_flight: out of range: \"99999999999999999999999\"");
}

TEST(ConfigErrorTest, NumbersInRange) {
  EXPECT_EQ(error_of("server:\n  body_timeout_ms: 0\n"),
            "keel.yaml:2: server.body_timeout_ms: must be at least 1, got 0");
  EXPECT_EQ(error_of("server:\n  threads: -1\n"),
            "keel.yaml:2: server.threads: must be at least 0, got -1");
  EXPECT_EQ(error_of("server:\n  idle_timeout_ms: 3000000000\n"),
            "keel.yaml:2: server.idle_timeout_ms: must be at most 2147483647, got 3000000000");
  EXPECT_EQ(error_of("server:\n  max_body_bytes: 0\n"),
            "keel.yaml:2: server.max_body_bytes: must be at least 1, got 0");
  EXPECT_EQ(error_of("router:\n  breaker_failures: 0\n"),
            "keel.yaml:2: router.breaker_failures: must be at least 1, got 0");
  EXPECT_EQ(error_of("router:\n  backoff_base_ms: 500\n  backoff_max_ms: 100\n"),
            "keel.yaml:3: router.backoff_max_ms: backoff_max_ms (100) is less than "
            "backoff_base_ms (500)");
  // Zero is fine where it means "no wait" or "unlimited".
  Config config = load_ok(
      "router: {backoff_base_ms: 0, backoff_max_ms: 0, breaker_cooldown_ms: 0}\n"
      "server: {threads: 0, max_in_flight: 0, shutdown_grace_ms: 0, max_body_bytes: +10}\n");
  EXPECT_EQ(config.router.backoff_base_ms, 0);
  EXPECT_EQ(config.server.threads, 0);
  EXPECT_EQ(config.server.max_body_bytes, 10u);
}

TEST(ConfigErrorTest, UnknownServerAndRouterKeys) {
  EXPECT_EQ(
      error_of("server:\n  threads: 1\n  treads: 2\n"),
      "keel.yaml:3: server.treads: unknown key (expected one of threads, max_body_bytes, "
      "header_timeout_ms, idle_timeout_ms, body_timeout_ms, send_timeout_ms, shutdown_grace_ms, "
      "max_in_flight)");
  EXPECT_EQ(error_of("router:\n  backoff: 2\n"),
            "keel.yaml:2: router.backoff: unknown key (expected one of backoff_base_ms, "
            "backoff_max_ms, retry_after_cap_ms, breaker_failures, breaker_cooldown_ms)");
}

// ---- listen -----------------------------------------------------------------------------------

TEST(ListenTest, ParsesHostAndPort) {
  auto v4 = parse_listen("127.0.0.1:8080");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);

  auto v6 = parse_listen("[::1]:9000");
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);

  auto ephemeral = parse_listen("localhost:0");
  ASSERT_TRUE(ephemeral.ok());
  EXPECT_EQ(ephemeral->host, "localhost");
  EXPECT_EQ(ephemeral->port, 0);

  auto top = parse_listen("0.0.0.0:65535");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->port, 65535);
}

TEST(ListenTest, RejectsBadAddresses) {
  for (const char* bad : {"", "8080", "127.0.0.1", "127.0.0.1:", ":8080", "127.0.0.1:65536",
                          "127.0.0.1:-1", "127.0.0.1:80x", "127.0.0.1: 80", "::1:8080", "[::1]",
                          "[::1]8080", "[::1:8080", "[nope]:80", "my host:80"}) {
    auto listen = parse_listen(bad);
    EXPECT_FALSE(listen.ok()) << bad;
    if (!listen) {
      EXPECT_EQ(listen.error().code, ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_EQ(parse_listen("::1:8080").error().message,
            "an IPv6 address needs brackets, as in [::1]:8080");
}

TEST(ListenTest, InConfig) {
  Config v6 = load_ok("listen: \"[::1]:0\"\n");
  EXPECT_EQ(v6.server.host, "::1");
  EXPECT_EQ(v6.server.port, 0);

  Config v4 = load_ok("listen: 127.0.0.2:1234\n");
  EXPECT_EQ(v4.server.host, "127.0.0.2");
  EXPECT_EQ(v4.server.port, 1234);

  EXPECT_EQ(error_of("state: x\nlisten: 127.0.0.1:99999\n"),
            "keel.yaml:2: listen: port must be a number from 0 to 65535, got \"99999\"");
  EXPECT_EQ(error_of("listen: 8080\n"), "keel.yaml:1: listen: expected host:port");
}

TEST(ListenTest, ExposedListenNeedsApiKeys) {
  EXPECT_EQ(error_of("\nlisten: 0.0.0.0:8080\n"),
            "keel.yaml:2: listen: api_keys are required when listening on a non-loopback "
            "address (\"0.0.0.0\")");
  ScopedEnv unset("KEEL_TEST_UNSET_KEY", nullptr);
  // An unset key variable leaves no key, so it is still refused.
  EXPECT_EQ(error_of("listen: 0.0.0.0:8080\napi_keys: [${KEEL_TEST_UNSET_KEY}]\n"),
            "keel.yaml:1: listen: api_keys are required when listening on a non-loopback "
            "address (\"0.0.0.0\")");
  Config config = load_ok("listen: 0.0.0.0:8080\napi_keys: [secret]\n");
  EXPECT_EQ(config.server.host, "0.0.0.0");
}

TEST(LoopbackTest, Hosts) {
  for (const char* host : {"localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "127.255.255.255",
                           "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "[::]", "10.0.0.1", "128.0.0.1", "192.168.1.1",
                           "example.com", "localhost.example.com", "127.0.0.1.example.com", "",
                           "[::1", "::2", "::ffff:10.0.0.1", "1.127.0.0"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

// ---- providers --------------------------------------------------------------------------------

TEST(ProviderErrorTest, UnknownKind) {
  EXPECT_EQ(error_of("providers:\n"
                     "  - name: a\n"
                     "    kind: openai\n"
                     "  - name: b\n"
                     "    kind: opnai\n"),
            "keel.yaml:5: providers[1].kind: unknown kind \"opnai\" "
            "(expected openai, azure, anthropic, gemini, local)");
}

TEST(ProviderErrorTest, MissingRequiredKeys) {
  EXPECT_EQ(error_of("state: x\nproviders:\n  - kind: openai\n"),
            "keel.yaml:3: providers[0]: missing required key \"name\"");
  EXPECT_EQ(error_of("providers:\n  - name: a\n    api_key: k\n"),
            "keel.yaml:2: providers[0]: missing required key \"kind\"");
  EXPECT_EQ(error_of("providers:\n  - {name: \"\", kind: openai}\n"),
            "keel.yaml:2: providers[0].name: must not be empty");
}

TEST(ProviderErrorTest, DuplicateName) {
  EXPECT_EQ(error_of("providers:\n"
                     "  - name: a\n"
                     "    kind: openai\n"
                     "  - kind: gemini\n"
                     "    name: a\n"),
            "keel.yaml:5: providers[1].name: duplicate provider name \"a\"");
}

TEST(ProviderErrorTest, UnknownKey) {
  EXPECT_EQ(error_of(kProviders + "    base-url: https://x\n"),
            "keel.yaml:5: providers[0].base-url: unknown key (expected one of name, kind, "
            "base_url, api_key, api_version, headers, model, threads, parallel, context, poll, "
            "connect_timeout_ms, documents)");
}

TEST(ProviderErrorTest, BaseUrl) {
  EXPECT_EQ(error_of(kProviders + "    base_url: api.openai.com/v1\n"),
            "keel.yaml:5: providers[0].base_url: must start with http:// or https://, got "
            "\"api.openai.com/v1\"");
  EXPECT_EQ(error_of(kProviders + "    base_url: ftp://x\n"),
            "keel.yaml:5: providers[0].base_url: must start with http:// or https://, got "
            "\"ftp://x\"");
  EXPECT_EQ(error_of(kProviders + "    base_url: https://\n"),
            "keel.yaml:5: providers[0].base_url: missing host in \"https://\"");
  EXPECT_EQ(error_of(kProviders + "    base_url: \"https://a b\"\n"),
            "keel.yaml:5: providers[0].base_url: contains a space or control character");
  Config config = load_ok(kProviders + "    base_url: http://127.0.0.1:9999/v1//\n");
  EXPECT_EQ(config.providers[0].base_url, "http://127.0.0.1:9999/v1");
}

TEST(ProviderErrorTest, LocalNeedsModel) {
  EXPECT_EQ(error_of("providers:\n  - name: l\n    kind: local\n    threads: 2\n"),
            "keel.yaml:2: providers[0]: missing required key \"model\" (the GGUF file) for kind "
            "local");
  EXPECT_EQ(error_of("providers:\n  - name: l\n    kind: local\n    model: \"\"\n"),
            "keel.yaml:4: providers[0].model: must not be empty");
  EXPECT_EQ(error_of("providers:\n  - {name: l, kind: local, model: m.gguf, parallel: 0}\n"),
            "keel.yaml:2: providers[0].parallel: must be at least 1, got 0");
  EXPECT_EQ(error_of("providers:\n  - {name: l, kind: local, model: m.gguf, poll: 101}\n"),
            "keel.yaml:2: providers[0].poll: must be at most 100, got 101");
  EXPECT_EQ(
      load_ok("providers:\n  - {name: l, kind: local, model: m.gguf, poll: 0}\n").providers[0].poll,
      0);
}

TEST(ProviderErrorTest, AzureNeedsBaseUrlAndVersion) {
  EXPECT_EQ(error_of("providers:\n  - name: az\n    kind: azure\n    api_version: v\n"),
            "keel.yaml:2: providers[0]: missing required key \"base_url\" for kind azure");
  EXPECT_EQ(error_of("providers:\n"
                     "  - name: az\n"
                     "    kind: azure\n"
                     "    base_url: https://r.openai.azure.com\n"),
            "keel.yaml:2: providers[0]: missing required key \"api_version\" for kind azure");
  ScopedEnv unset("KEEL_TEST_UNSET_VERSION", nullptr);
  EXPECT_EQ(error_of("providers:\n"
                     "  - name: az\n"
                     "    kind: azure\n"
                     "    base_url: https://r.openai.azure.com\n"
                     "    api_version: ${KEEL_TEST_UNSET_VERSION}\n"),
            "keel.yaml:5: providers[0].api_version: must not be empty for kind azure");
}

TEST(ProviderErrorTest, KeysThatTheKindDoesNotUse) {
  EXPECT_EQ(error_of(kProviders + "    model: gpt-4o\n"),
            "keel.yaml:5: providers[0].model: not used by kind openai (only local)");
  EXPECT_EQ(error_of(kProviders + "    api_version: \"2024-10-21\"\n"),
            "keel.yaml:5: providers[0].api_version: not used by kind openai (only azure)");
  EXPECT_EQ(error_of("providers:\n"
                     "  - name: l\n"
                     "    kind: local\n"
                     "    model: m.gguf\n"
                     "    base_url: http://x\n"),
            "keel.yaml:5: providers[0].base_url: not used by kind local (only remote kinds)");
  EXPECT_EQ(error_of("providers:\n"
                     "  - name: c\n"
                     "    kind: anthropic\n"
                     "    documents: true\n"),
            "keel.yaml:4: providers[0].documents: not used by kind anthropic (only openai, azure)");
}

TEST(ProviderErrorTest, Headers) {
  EXPECT_EQ(error_of(kProviders + "    headers: [a]\n"),
            "keel.yaml:5: providers[0].headers: expected a map, got a list");
  EXPECT_EQ(error_of(kProviders + "    headers:\n      X-A: 1\n      \"Bad Name\": 2\n"),
            "keel.yaml:7: providers[0].headers.Bad Name: not a valid header name");
  EXPECT_EQ(error_of(kProviders + "    headers:\n      X-A: 1\n      x-a: 2\n"),
            "keel.yaml:7: providers[0].headers.x-a: repeated header");
  EXPECT_EQ(error_of(kProviders + "    headers:\n      X-A: {b: c}\n"),
            "keel.yaml:6: providers[0].headers.X-A: expected a string, got a map");
  Config config = load_ok(kProviders + "    headers: {X-Trace: \"on\", X-Num: 7}\n");
  EXPECT_EQ(config.providers[0].headers.at("X-Trace"), "on");
  EXPECT_EQ(config.providers[0].headers.at("X-Num"), "7");
}

TEST(ProviderErrorTest, SecretsAreNeverEchoed) {
  const std::string secret = "sk-very-secret-value";
  ScopedEnv key("KEEL_TEST_SECRET", "sk-very-secret-value\r\nX-Injected: 1");
  const std::string via_env =
      error_of("providers:\n  - name: a\n    kind: openai\n    api_key: ${KEEL_TEST_SECRET}\n");
  EXPECT_EQ(via_env, "keel.yaml:4: providers[0].api_key: contains a line break or NUL");
  EXPECT_EQ(via_env.find(secret), std::string::npos);

  const std::string header = error_of(
      "providers:\n  - name: a\n    kind: openai\n    headers: {Authorization: \"Bearer "
      "sk-very-secret-value\\n\"}\n");
  EXPECT_EQ(header,
            "keel.yaml:4: providers[0].headers.Authorization: contains a line break or NUL");
  EXPECT_EQ(header.find(secret), std::string::npos);

  // Errors elsewhere in a file show its text, not what the environment put in.
  ScopedEnv url("KEEL_TEST_URL_SECRET", "sk-very-secret-value");
  const std::string url_error = error_of(
      "providers:\n  - name: a\n    kind: openai\n    base_url: ${KEEL_TEST_URL_SECRET}\n");
  EXPECT_EQ(url_error.find(secret), std::string::npos) << url_error;
  EXPECT_EQ(url_error,
            "keel.yaml:4: providers[0].base_url: must start with http:// or https://, got the "
            "value of \"${KEEL_TEST_URL_SECRET}\"");
}

// ---- models -----------------------------------------------------------------------------------

TEST(ModelErrorTest, UnknownStrategy) {
  EXPECT_EQ(error_of(kProviders + "models:\n"
                                  "  - name: m\n"
                                  "    strategy: random\n"
                                  "    targets: [{provider: openai, model: x}]\n"),
            "keel.yaml:7: models[0].strategy: unknown strategy \"random\" "
            "(expected failover, weighted, least-latency)");
}

TEST(ModelErrorTest, DanglingProvider) {
  EXPECT_EQ(error_of(kProviders + "models:\n"
                                  "  - name: m\n"
                                  "    targets:\n"
                                  "      - {provider: openai, model: x}\n"
                                  "      - provider: opneai\n"
                                  "        model: y\n"),
            "keel.yaml:9: models[0].targets[1].provider: no provider named \"opneai\" "
            "(configured: openai)");
  EXPECT_EQ(error_of("models:\n  - name: m\n    targets: [{provider: p, model: x}]\n"),
            "keel.yaml:3: models[0].targets[0].provider: no provider named \"p\" "
            "(configured: none)");
}

TEST(ModelErrorTest, Targets) {
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    targets: []\n"),
            "keel.yaml:7: models[0].targets: must list at least one target");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    targets:\n"),
            "keel.yaml:7: models[0].targets: must list at least one target");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n"),
            "keel.yaml:6: models[0]: missing required key \"targets\"");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    targets: [{provider: openai}]\n"),
            "keel.yaml:7: models[0].targets[0]: missing required key \"model\"");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    targets: [openai]\n"),
            "keel.yaml:7: models[0].targets[0]: expected a map, got a scalar");
  EXPECT_EQ(error_of(kProviders +
                     "models:\n  - name: m\n    targets: [{provider: openai, model: x, w: 1}]\n"),
            "keel.yaml:7: models[0].targets[0].w: unknown key (expected one of provider, model, "
            "weight)");
}

TEST(ModelErrorTest, Weights) {
  const std::string head = kProviders + "models:\n  - name: m\n    targets:\n";
  EXPECT_EQ(error_of(head + "      - {provider: openai, model: x, weight: 0}\n"),
            "keel.yaml:8: models[0].targets[0].weight: must be greater than 0");
  EXPECT_EQ(error_of(head + "      - {provider: openai, model: x, weight: -2.5}\n"),
            "keel.yaml:8: models[0].targets[0].weight: must be greater than 0");
  EXPECT_EQ(error_of(head + "      - {provider: openai, model: x, weight: heavy}\n"),
            "keel.yaml:8: models[0].targets[0].weight: expected a number, got \"heavy\"");
  EXPECT_EQ(error_of(head + "      - {provider: openai, model: x, weight: .nan}\n"),
            "keel.yaml:8: models[0].targets[0].weight: expected a number, got \".nan\"");
  EXPECT_EQ(error_of(head + "      - {provider: openai, model: x, weight: inf}\n"),
            "keel.yaml:8: models[0].targets[0].weight: expected a number, got \"inf\"");
  Config config = load_ok(head + "      - {provider: openai, model: x, weight: 1e-3}\n");
  EXPECT_DOUBLE_EQ(config.models[0].targets[0].weight, 0.001);
}

TEST(ModelErrorTest, NumbersAndNames) {
  const std::string targets = "    targets: [{provider: openai, model: x}]\n";
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    retries: -1\n" + targets),
            "keel.yaml:7: models[0].retries: must be at least 0, got -1");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    timeout_ms: 0\n" + targets),
            "keel.yaml:7: models[0].timeout_ms: must be at least 1, got 0");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    timeout_ms: abc\n" + targets),
            "keel.yaml:7: models[0].timeout_ms: expected an integer, got \"abc\"");
  EXPECT_EQ(
      error_of(kProviders + "models:\n  - name: m\n    first_token_timeout_ms: 0\n" + targets),
      "keel.yaml:7: models[0].first_token_timeout_ms: must be at least 1, got 0");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n" + targets + "  - name: m\n" + targets),
            "keel.yaml:8: models[1].name: duplicate model name \"m\"");
  EXPECT_EQ(error_of(kProviders + "models:\n  - strategy: weighted\n" + targets),
            "keel.yaml:6: models[0]: missing required key \"name\"");
  EXPECT_EQ(error_of(kProviders + "models:\n  - name: m\n    retry: 2\n" + targets),
            "keel.yaml:7: models[0].retry: unknown key (expected one of name, strategy, retries, "
            "timeout_ms, first_token_timeout_ms, targets, shadow, tools, max_tool_rounds)");
}

// ---- interpolation ----------------------------------------------------------------------------

TEST(InterpolateTest, SetUnsetAndDefault) {
  ScopedEnv set("KEEL_TEST_SET", "value");
  ScopedEnv empty("KEEL_TEST_EMPTY", "");
  ScopedEnv unset("KEEL_TEST_UNSET", nullptr);
  ScopedEnv unset2("KEEL_TEST_UNSET2", nullptr);

  std::vector<std::string> missing;
  EXPECT_EQ(interpolate_env("${KEEL_TEST_SET}", &missing), "value");
  EXPECT_EQ(interpolate_env("a-${KEEL_TEST_SET}-b", &missing), "a-value-b");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_SET}${KEEL_TEST_SET}", &missing), "valuevalue");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_SET:-fallback}", &missing), "value");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_UNSET:-fallback}", &missing), "fallback");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_EMPTY:-fallback}", &missing), "fallback");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_UNSET:-}", &missing), "");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_UNSET:-a:-b c}", &missing), "a:-b c");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_EMPTY}", &missing), "");
  EXPECT_TRUE(missing.empty());  // a default or an empty value is not "unset"

  EXPECT_EQ(interpolate_env("x${KEEL_TEST_UNSET}y", &missing), "xy");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_UNSET2}${KEEL_TEST_UNSET}", &missing), "");
  EXPECT_EQ(missing, (std::vector<std::string>{"KEEL_TEST_UNSET", "KEEL_TEST_UNSET2"}));
  EXPECT_EQ(interpolate_env("${KEEL_TEST_UNSET}"), "");  // no list: fine
}

TEST(InterpolateTest, LiteralDollars) {
  ScopedEnv set("KEEL_TEST_SET", "value");
  EXPECT_EQ(interpolate_env("$"), "$");
  EXPECT_EQ(interpolate_env("a$b"), "a$b");
  EXPECT_EQ(interpolate_env("$$"), "$$");
  EXPECT_EQ(interpolate_env("$$${KEEL_TEST_SET}"), "$$value");
  EXPECT_EQ(interpolate_env("$KEEL_TEST_SET"), "$KEEL_TEST_SET");  // braces are required
  EXPECT_EQ(interpolate_env("${"), "${");
  EXPECT_EQ(interpolate_env("${KEEL_TEST_SET"), "${KEEL_TEST_SET");
  EXPECT_EQ(interpolate_env("${}"), "${}");
  EXPECT_EQ(interpolate_env("${1X}"), "${1X}");
  EXPECT_EQ(interpolate_env("${A B}"), "${A B}");
  EXPECT_EQ(interpolate_env("price: $5 {x}"), "price: $5 {x}");
}

TEST(InterpolateTest, AppliesToEveryScalarAfterParsing) {
  ScopedEnv key("KEEL_TEST_KEY", "sk-1");
  ScopedEnv port("KEEL_TEST_PORT", "9123");
  ScopedEnv timeout("KEEL_TEST_TIMEOUT", "1500");
  ScopedEnv flag("KEEL_TEST_FLAG", "true");
  ScopedEnv provider("KEEL_TEST_PROVIDER", "openai");
  ScopedEnv unset("KEEL_TEST_UNSET", nullptr);
  // A value that would change the document if it were pasted into the YAML text.
  ScopedEnv yaml("KEEL_TEST_YAML", "x\nlog_content: true\nstate: [evil");

  Config config = load_ok(
      "listen: 127.0.0.1:${KEEL_TEST_PORT}\n"
      "state: ${KEEL_TEST_YAML}\n"
      "log_content: ${KEEL_TEST_FLAG}\n"
      "api_keys: [${KEEL_TEST_KEY}, ${KEEL_TEST_UNSET}, \"${KEEL_TEST_UNSET:-}\", literal]\n"
      "providers:\n"
      "  - {name: openai, kind: openai, api_key: \"${KEEL_TEST_KEY}\"}\n"
      "models:\n"
      "  - name: m\n"
      "    timeout_ms: ${KEEL_TEST_TIMEOUT}\n"
      "    targets: [{provider: ${KEEL_TEST_PROVIDER}, model: ${KEEL_TEST_MODEL:-gpt-4o, "
      "mini}}]\n");
  EXPECT_EQ(config.server.port, 9123);
  EXPECT_EQ(config.state, "x\nlog_content: true\nstate: [evil");
  EXPECT_TRUE(config.log_content);
  EXPECT_EQ(config.api_keys, (std::vector<std::string>{"sk-1", "literal"}));
  EXPECT_EQ(config.providers[0].api_key, "sk-1");
  EXPECT_EQ(config.models[0].timeout_ms, 1500);
  EXPECT_EQ(config.models[0].targets[0].provider, "openai");
  EXPECT_EQ(config.models[0].targets[0].model, "gpt-4o, mini");
  EXPECT_EQ(config.unset_vars, std::vector<std::string>{"KEEL_TEST_UNSET"});
}

TEST(InterpolateTest, ReferencesInQuotesAndBlocks) {
  ScopedEnv set("KEEL_TEST_SET", "v");
  ScopedEnv missing("KEEL_TEST_MISSING", nullptr);
  Config config = load_ok(
      "state: 'a ${KEEL_TEST_SET} b'\n"
      "providers:\n"
      "  - name: a\n"
      "    kind: openai\n"
      "    headers:\n"
      "      X-Single: '${KEEL_TEST_MISSING:-it''s}'\n"
      "      X-Double: \"${KEEL_TEST_MISSING:-q\\\"}\"\n"
      "      X-Block: |-\n"
      "        ${KEEL_TEST_SET}\n");
  EXPECT_EQ(config.state, "a v b");
  // A default holding quotes is left to the quoting style to unescape.
  EXPECT_EQ(config.providers[0].headers.at("X-Single"), "it's");
  EXPECT_EQ(config.providers[0].headers.at("X-Double"), "q\"");
  EXPECT_EQ(config.providers[0].headers.at("X-Block"), "v");
}

TEST(InterpolateTest, BadInterpolatedNumberIsAnError) {
  ScopedEnv timeout("KEEL_TEST_TIMEOUT", "soon");
  EXPECT_EQ(error_of("server:\n  header_timeout_ms: ${KEEL_TEST_TIMEOUT}\n"),
            "keel.yaml:2: server.header_timeout_ms: expected an integer, got the value of "
            "\"${KEEL_TEST_TIMEOUT}\"");
  ScopedEnv unset("KEEL_TEST_UNSET", nullptr);
  EXPECT_EQ(error_of("server:\n  threads: ${KEEL_TEST_UNSET}\n"),
            "keel.yaml:2: server.threads: expected an integer, got the value of "
            "\"${KEEL_TEST_UNSET}\"");
  Config config = load_ok("server:\n  threads: ${KEEL_TEST_UNSET:-3}\n");
  EXPECT_EQ(config.server.threads, 3);
}

TEST(ConfigTest, AccessLogSwitch) {
  EXPECT_FALSE(load_ok("state: sqlite:x.db\n").access_log);
  EXPECT_TRUE(load_ok("access_log: true\n").access_log);
}

TEST(InterpolateTest, KeysAreNotInterpolated) {
  ScopedEnv set("KEEL_TEST_KEYNAME", "state");
  EXPECT_EQ(error_of("${KEEL_TEST_KEYNAME}: x\n"),
            "keel.yaml:1: ${KEEL_TEST_KEYNAME}: unknown key (expected one of listen, state, "
            "log_content, log_retention, access_log, api_keys, admin_keys, providers, models, "
            "router, server, pricing, toolsets, prompts, flows, knowledge, vector_stores, copilots, "
            "tracing)");
}

// Found by config_fuzz (fuzz/regressions/config/): yaml-cpp 0.7's LoadAll never returns on ","
// (jbeder/yaml-cpp#1040); parsing must end with an error instead.
TEST(ConfigRegression, CommaDocumentIsAnErrorNotAHang) {
  auto config = parse_config(",", "fuzz.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("fuzz.yaml"), std::string::npos) << config.error().message;
}

// Found by the canary-secret e2e suite: an unterminated quote folds the rest of the file into
// the key, which YAML accepts; a key with whitespace is refused.
TEST(ConfigRegression, UnterminatedQuoteInAKeyIsAnError) {
  auto config = parse_config(
      "providers:\n  - name: up\n    kind: openai\n    api_key: \"sk-abc\nmodels:\n  - name: m\n"
      "    targets: [{provider: up, model: x}]\n",
      "keel.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("api_key"), std::string::npos) << config.error().message;
  EXPECT_EQ(config.error().message.find("sk-abc"), std::string::npos) << "keys are never echoed";
}

TEST(ConfigRegression, CredentialsInBaseUrlAreAnError) {
  auto config = parse_config(
      "providers:\n  - {name: up, kind: openai, base_url: \"http://user:pw@127.0.0.1:9/v1\"}\n",
      "keel.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("credentials"), std::string::npos)
      << config.error().message;
}

}  // namespace
}  // namespace keel

namespace keel {
namespace {

TEST(ToolsetConfigTest, ToolsetsAndModelTools) {
  auto config = parse_config(R"(
providers: [{name: p, kind: openai, base_url: "http://127.0.0.1:1/v1"}]
toolsets:
  - {name: web, kind: builtin, tools: [http_fetch, calculator], allow_hosts: [10.0.0.0/8]}
  - name: srv
    kind: mcp
    command: node
    args: [server.js, --flag]
    env: {TOKEN: secret}
    allow: [echo]
    timeout_ms: 500
    startup_timeout_ms: 900
    max_output_bytes: 100
  - {name: remote, kind: mcp, url: "http://127.0.0.1:9/mcp", headers: {Authorization: Bearer x}}
models:
  - {name: agent, tools: [web, srv], max_tool_rounds: 3, targets: [{provider: p, model: m}]}
)",
                             "keel.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->toolsets.size(), 3u);
  const ToolsetConfig& web = config->toolsets[0];
  EXPECT_EQ(web.kind, ToolsetKind::kBuiltin);
  EXPECT_EQ(web.tools, (std::vector<std::string>{"http_fetch", "calculator"}));
  EXPECT_EQ(web.allow_hosts, std::vector<std::string>{"10.0.0.0/8"});
  const ToolsetConfig& srv = config->toolsets[1];
  EXPECT_EQ(srv.kind, ToolsetKind::kMcp);
  EXPECT_EQ(srv.command, "node");
  EXPECT_EQ(srv.args, (std::vector<std::string>{"server.js", "--flag"}));
  EXPECT_EQ(srv.env.at("TOKEN"), "secret");
  EXPECT_EQ(srv.allow, std::vector<std::string>{"echo"});
  EXPECT_EQ(srv.timeout_ms, 500);
  EXPECT_EQ(srv.startup_timeout_ms, 900);
  EXPECT_EQ(srv.max_output_bytes, 100);
  EXPECT_EQ(config->toolsets[2].url, "http://127.0.0.1:9/mcp");
  EXPECT_EQ(config->toolsets[2].headers.at("Authorization"), "Bearer x");
  EXPECT_EQ(config->models[0].tools, (std::vector<std::string>{"web", "srv"}));
  EXPECT_EQ(config->models[0].max_tool_rounds, 3);
}

TEST(ToolsetConfigTest, ErrorsNameTheToolset) {
  const std::pair<const char*, const char*> cases[] = {
      {"toolsets: [{name: w, kind: builtin, tools: [calculator, rm]}]",
       "keel.yaml:1: toolsets[0].tools[1]: toolset \"w\": no builtin tool named \"rm\" "
       "(current_time, calculator, http_fetch)"},
      {"toolsets: [{name: w, kind: builtin}]",
       "keel.yaml:1: toolsets[0]: missing required key \"tools\""},
      {"toolsets: [{name: s, kind: mcp}]",
       "keel.yaml:1: toolsets[0]: toolset \"s\": kind mcp needs either command (stdio) or url "
       "(streamable HTTP)"},
      {"toolsets: [{name: s, kind: mcp, command: x, url: \"http://a/mcp\"}]",
       "keel.yaml:1: toolsets[0]: toolset \"s\": kind mcp needs either command (stdio) or url "
       "(streamable HTTP)"},
      {"toolsets: [{name: s, kind: mcp, command: x, headers: {a: b}}]",
       "keel.yaml:1: toolsets[0].headers: only for streamable HTTP (url)"},
      {"toolsets: [{name: s, kind: mcp, command: x, tools: [calculator]}]",
       "keel.yaml:1: toolsets[0].tools: only for kind builtin"},
      {"toolsets: [{name: s, kind: openapi}]",
       "keel.yaml:1: toolsets[0]: missing required key \"spec\""},
      {"toolsets: [{name: s, kind: openapi, spec: a.json, auth: {type: magic}}]",
       "keel.yaml:1: toolsets[0].auth.type: unknown auth type \"magic\" (bearer, basic, api_key)"},
      {"toolsets: [{name: s, kind: openapi, spec: a.json, auth: {type: basic, username: u}}]",
       "keel.yaml:1: toolsets[0].auth: missing required key \"password\""},
      {"toolsets: [{name: s, kind: builtin, tools: [calculator], spec: a.json}]",
       "keel.yaml:1: toolsets[0].spec: only for kind openapi"},
      {"toolsets: [{name: s, kind: magic}]",
       "keel.yaml:1: toolsets[0].kind: unknown toolset kind \"magic\" (expected mcp, builtin, "
       "openapi)"},
      {"toolsets: [{name: \"a.b\", kind: builtin, tools: [calculator]}]",
       "keel.yaml:1: toolsets[0].name: must be 1-64 letters, digits, _ or -, got \"a.b\""},
  };
  for (const auto& [yaml, expected] : cases) {
    auto config = parse_config(yaml, "keel.yaml");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, expected);
  }
}

}  // namespace
}  // namespace keel

namespace keel {
namespace {

TEST(PricingAndShadow, LoadedAndChecked) {
  const std::string base =
      "providers: [{name: p, kind: openai, base_url: 'http://127.0.0.1:1/v1'}]\n"
      "models:\n"
      "  - {name: a, targets: [{provider: p, model: x}], shadow: {model: b, percent: 5}}\n"
      "  - {name: b, targets: [{provider: p, model: y}]}\n";
  auto config = parse_config(base +
                                 "pricing: {p/x: {input_per_mtok: 1.5, output_per_mtok: 2}, "
                                 "y: {output_per_mtok: 4}}\n",
                             "keel.yaml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_TRUE(config->models[0].shadow);
  EXPECT_EQ(config->models[0].shadow->model, "b");
  EXPECT_EQ(config->models[0].shadow->percent, 5);
  EXPECT_EQ(config->models[0].shadow->evaluators, (std::vector<std::string>{"f1", "rouge_l"}));
  EXPECT_EQ(config->find_price("p", "x")->input_per_mtok, 1.5);
  EXPECT_EQ(config->find_price("q", "y")->output_per_mtok, 4);
  EXPECT_EQ(config->find_price("p", "z"), nullptr);
  auto error = [](const std::string& yaml) {
    auto c = parse_config(yaml, "keel.yaml");
    return c ? std::string("ok") : c.error().message;
  };
  EXPECT_EQ(error(base + "pricing: {x: {input_per_mtok: -1}}\n"),
            "keel.yaml:5: pricing.x.input_per_mtok: must not be negative");
  EXPECT_EQ(error(base + "pricing: {x: {input: 1}}\n"),
            "keel.yaml:5: pricing.x.input: unknown key (expected one of input_per_mtok, "
            "output_per_mtok)");
  std::string self = base;
  self.replace(self.find("model: b, percent"), 8, "model: a");
  EXPECT_EQ(error(self), "keel.yaml:3: models[0].shadow.model: a model cannot shadow itself");
  std::string missing = base;
  missing.replace(missing.find("model: b, percent"), 8, "model: c");
  EXPECT_EQ(error(missing), "keel.yaml:3: models[0].shadow.model: no model named \"c\"");
  std::string percent = base;
  percent.replace(percent.find("percent: 5"), 10, "percent: 150");
  EXPECT_EQ(error(percent), "keel.yaml:3: models[0].shadow.percent: must be between 0 and 100");
}

TEST(CopilotConfigTest, LoadedAndChecked) {
  const std::string base =
      "providers: [{name: p, kind: openai, base_url: 'http://127.0.0.1:1/v1'}]\n"
      "models: [{name: smart, targets: [{provider: p, model: x}]}]\n"
      "toolsets: [{name: calc, kind: builtin, tools: [calculator]}]\n"
      "flows: [{name: classify, path: flows/c}]\n";
  auto config = parse_config(base +
                                 "knowledge: [{name: handbook, sources: [docs/], "
                                 "embedding_model: smart}]\n"
                                 "copilots:\n"
                                 "  - name: helpdesk\n"
                                 "    instructions: prompts/helpdesk.prompty\n"
                                 "    model: smart\n"
                                 "    tools: [calc]\n"
                                 "    knowledge: [handbook]\n"
                                 "    starters: [\"How do I reset my password?\"]\n"
                                 "    max_tool_rounds: 3\n"
                                 "    approval: [calc/calculator]\n"
                                 "  - {name: inline, instructions: Be brief., model: smart}\n",
                             "keel.yaml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->copilots.size(), 2u);
  const CopilotConfig& helpdesk = config->copilots[0];
  EXPECT_EQ(helpdesk.instructions_file, "prompts/helpdesk.prompty");
  EXPECT_EQ(helpdesk.instructions, "");
  EXPECT_EQ(helpdesk.tools, std::vector<std::string>{"calc"});
  EXPECT_EQ(helpdesk.knowledge, std::vector<std::string>{"handbook"});
  EXPECT_EQ(helpdesk.starters, std::vector<std::string>{"How do I reset my password?"});
  EXPECT_EQ(helpdesk.max_tool_rounds, 3);
  EXPECT_EQ(helpdesk.approval, std::vector<std::string>{"calc/calculator"});
  EXPECT_EQ(config->find_copilot("inline")->instructions, "Be brief.");

  auto error = [&](const std::string& copilots) {
    auto c = parse_config(base + "copilots:\n" + copilots, "keel.yaml");
    return c ? std::string("ok") : c.error().message;
  };
  EXPECT_EQ(error("  - {name: smart, model: smart}\n"),
            "keel.yaml:6: copilots[0].name: \"smart\" is already a model's name (models, "
            "copilots and flows share one namespace)");
  EXPECT_EQ(error("  - {name: classify, model: smart}\n"),
            "keel.yaml:6: copilots[0].name: \"classify\" is already a flow's name (models, "
            "copilots and flows share one namespace)");
  EXPECT_EQ(error("  - {name: a, model: smart}\n  - {name: a, model: smart}\n"),
            "keel.yaml:7: copilots[1].name: duplicate copilot name \"a\"");
  EXPECT_EQ(error("  - {name: a, model: nope}\n"),
            "keel.yaml:6: copilots[0].model: no model named \"nope\" (a copilot's model is a "
            "public model from models:)");
  EXPECT_EQ(error("  - {name: a, model: smart, tools: [web]}\n"),
            "keel.yaml:6: copilots[0].tools[0]: no toolset named \"web\"");
  EXPECT_EQ(error("  - {name: a, model: smart, approval: [calc]}\n"),
            "keel.yaml:6: copilots[0].approval[0]: \"calc\" is not one of this copilot's tools");
  EXPECT_EQ(error("  - {name: a, model: smart, toolz: [calc]}\n").find("unknown key"),
            std::string("keel.yaml:6: copilots[0].toolz: ").size());
  EXPECT_EQ(error("  - {name: a, model: smart, knowledge: [handbook]}\n"),
            "keel.yaml:6: copilots[0].knowledge[0]: no knowledge base named \"handbook\" "
            "(knowledge:)");
}

TEST(KnowledgeConfigTest, EntriesLoadAndAreChecked) {
  const std::string models = kProviders +
                             "  - {name: claude, kind: anthropic, api_key: k}\n"
                             "models:\n"
                             "  - {name: embed, targets: [{provider: openai, model: e}]}\n"
                             "  - {name: chat, targets: [{provider: claude, model: c}]}\n";
  Config config = load_ok(models +
                          "knowledge:\n"
                          "  - name: handbook\n"
                          "    sources: [docs/, notes/*.md]\n"
                          "    embedding_model: embed\n"
                          "    chunk_tokens: 200\n"
                          "    overlap_tokens: 20\n"
                          "    rerank_model: chat\n"
                          "    embedding_max_tokens: 512\n");
  ASSERT_EQ(config.knowledge.size(), 1u);
  const KnowledgeConfig& base = config.knowledge[0];
  EXPECT_EQ(base.embedding_max_tokens, 512);
  EXPECT_EQ(base.sources, (std::vector<std::string>{"docs/", "notes/*.md"}));
  EXPECT_EQ(base.chunk_tokens, 200);
  EXPECT_EQ(base.overlap_tokens, 20);
  EXPECT_EQ(base.rerank_model, "chat");
  EXPECT_EQ(config.find_knowledge("handbook"), &config.knowledge[0]);
  EXPECT_EQ(error_of(models + "knowledge:\n  - {name: k, sources: [a], embedding_model: nope}\n"),
            "keel.yaml:10: knowledge[0].embedding_model: no model named \"nope\"");
  EXPECT_EQ(error_of(models + "knowledge:\n  - {name: k, sources: [a], embedding_model: chat}\n"),
            "keel.yaml:10: knowledge[0].embedding_model: model \"chat\" has no target that "
            "serves embeddings (anthropic has none)");
  EXPECT_EQ(error_of(models + "knowledge:\n  - {name: k, sources: [a], embedding_model: embed}\n"
                              "  - {name: k, sources: [b], embedding_model: embed}\n"),
            "keel.yaml:11: knowledge[1].name: duplicate knowledge base name \"k\"");
  EXPECT_EQ(error_of(models + "knowledge:\n  - {name: k, sources: [], embedding_model: embed}\n"),
            "keel.yaml:10: knowledge[0].sources: must list at least one file, folder or glob");
  EXPECT_EQ(error_of(models + "knowledge:\n  - {name: k, sources: [a], embedding_model: embed, "
                              "chunk_tokens: 40, overlap_tokens: 40}\n"),
            "keel.yaml:10: knowledge[0].overlap_tokens: overlap_tokens (40) must be less than "
            "chunk_tokens (40)");
  EXPECT_EQ(
      error_of(models + "knowledge:\n  - {name: ../k, sources: [a], embedding_model: embed}\n"),
      "keel.yaml:10: knowledge[0].name: must not contain / or \\ or start with . (it names "
      "the index's folder)");
  EXPECT_EQ(load_ok(models + "vector_stores: {embedding_model: embed, chunk_tokens: 100}\n")
                .vector_stores.chunk_tokens,
            100);
  EXPECT_EQ(load_ok(models + "vector_stores: {embedding_model: embed, embedding_max_tokens: 256}\n")
                .vector_stores.embedding_max_tokens,
            256);
  EXPECT_EQ(load_ok(models + "knowledge:\n  - {name: k, sources: [a], embedding_model: embed}\n")
                .knowledge[0]
                .embedding_max_tokens,
            0)
      << "unset: what the model's target says";
  EXPECT_NE(error_of(models + "knowledge:\n  - {name: k, sources: [a], embedding_model: embed, "
                              "embedding_max_tokens: 0}\n")
                .find("knowledge[0].embedding_max_tokens"),
            std::string::npos);
  EXPECT_EQ(error_of(models + "vector_stores: {embedding_model: chat}\n"),
            "keel.yaml:9: vector_stores.embedding_model: model \"chat\" has no target that serves "
            "embeddings (anthropic has none)");
}

}  // namespace
}  // namespace keel

// keel::parse_config over arbitrary YAML text (the path `keel serve --config` and
// `keel config check` take). Untrusted in the sense that a config may come from anywhere an
// operator copies it from; a malformed one must be a clean error, never a crash or a hang.
//
// Invariants beyond "no crash, no UB, no leak":
//  - a rejected config is kInvalidArgument and its message starts with "<source>:<line>: ";
//  - an accepted config holds what validation promises: unique non-empty provider and model
//    names, every target naming a configured provider, positive weights and timeouts.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "core/config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // ${VAR} references resolve against the environment; pin two so both branches are reached.
  setenv("KEEL_FUZZ_SET", "set-value", 1);
  setenv("KEEL_FUZZ_EMPTY", "", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = keel::parse_config(text, "fuzz.yaml");
  if (!config) {
    FUZZ_CHECK(config.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
    FUZZ_CHECK(config.error().message.rfind("fuzz.yaml:", 0) == 0, "error without its source");
    return 0;
  }
  std::set<std::string> providers;
  for (const auto& provider : config->providers) {
    FUZZ_CHECK(!provider.name.empty(), "empty provider name");
    FUZZ_CHECK(providers.insert(provider.name).second, "duplicate provider name");
    FUZZ_CHECK(provider.connect_timeout_ms >= 1, "connect_timeout_ms below 1");
    FUZZ_CHECK(provider.parallel >= 1, "parallel below 1");
  }
  std::set<std::string> models;
  for (const auto& model : config->models) {
    FUZZ_CHECK(!model.name.empty(), "empty model name");
    FUZZ_CHECK(models.insert(model.name).second, "duplicate model name");
    FUZZ_CHECK(!model.targets.empty(), "a model without targets");
    FUZZ_CHECK(model.timeout_ms >= 1 && model.first_token_timeout_ms >= 1, "timeout below 1");
    FUZZ_CHECK(model.retries >= 0, "negative retries");
    for (const auto& target : model.targets) {
      FUZZ_CHECK(providers.count(target.provider) == 1, "a target names an unknown provider");
      FUZZ_CHECK(!target.model.empty(), "a target without a model");
      FUZZ_CHECK(target.weight > 0, "a weight that is not positive");
    }
  }
  FUZZ_CHECK(config->router.backoff_max_ms >= config->router.backoff_base_ms,
             "backoff_max_ms below backoff_base_ms");
  FUZZ_CHECK(config->server.max_body_bytes >= 1, "max_body_bytes below 1");
  FUZZ_CHECK(!config->state.empty(), "empty state");
  for (const auto& key : config->api_keys) FUZZ_CHECK(!key.empty(), "an empty api key");
  return 0;
}

// `keel fixture --arch llama|bert [--seed N] OUT.gguf`: writes a tiny random-weight model
// (providers/local/fixture.h) for tests, and for `make run` when no trained model can be
// downloaded. Its answers are not meaningful.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cli/commands.h"

#ifdef KEEL_HAS_LLAMA
#include "providers/local/fixture.h"
#endif

namespace keel::cli {

#ifdef KEEL_HAS_LLAMA

namespace {

constexpr const char* kFixtureUsage = "usage: keel fixture --arch llama|bert [--seed N] OUT.gguf\n";

}  // namespace

int fixture(const std::vector<std::string>& args) {
  std::string arch_name;
  std::string seed_text;
  std::vector<std::string> paths;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kFixtureUsage, stdout);
      return 0;
    }
    if ((arg == "--arch" || arg == "--seed") && i + 1 < args.size()) {
      (arg == "--arch" ? arch_name : seed_text) = args[++i];
    } else if (arg.starts_with("-")) {
      std::fprintf(stderr, "keel fixture: unknown or incomplete option '%s'\n%s", arg.c_str(),
                   kFixtureUsage);
      return 2;
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.size() != 1 || arch_name.empty()) {
    std::fputs(kFixtureUsage, stderr);
    return 2;
  }
  auto arch = fixture_arch_from_name(arch_name);
  if (!arch) {
    std::fprintf(stderr, "keel fixture: %s\n", arch.error().message.c_str());
    return 2;
  }
  uint64_t seed = kDefaultFixtureSeed;
  if (!seed_text.empty()) {
    const char* end = seed_text.data() + seed_text.size();
    auto [ptr, ec] = std::from_chars(seed_text.data(), end, seed);
    if (ec != std::errc() || ptr != end) {
      std::fprintf(stderr, "keel fixture: --seed wants an unsigned integer, not '%s'\n",
                   seed_text.c_str());
      return 2;
    }
  }
  const Status written = write_fixture_model(paths[0], *arch, seed);
  if (!written) {
    std::fprintf(stderr, "keel fixture: %s\n", written.error().message.c_str());
    return 1;
  }
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(paths[0], ec);
  std::printf("wrote %s: random-weight %s fixture, seed %llu, %llu bytes; %s\n", paths[0].c_str(),
              fixture_arch_name(*arch), static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(ec ? 0 : bytes),
              *arch == FixtureArch::kLlama ? "its answers are not meaningful"
                                           : "its embeddings are not meaningful");
  return 0;
}

#else

int fixture(const std::vector<std::string>&) {
  std::fputs(
      "keel fixture: the local engine is not built into this keel (no llama.cpp; run "
      "scripts/llama.sh, then reconfigure)\n",
      stderr);
  return 1;
}

#endif

}  // namespace keel::cli

// Tool pinning: the hash of each MCP tool's definition (name, description, input schema) is
// stored at first sight; a tool whose definition later differs is disabled until a person
// approves it again (`keel tools approve`), so that a poisoned server cannot swap a tool's
// description or schema under a model ("rug pull").
//
//   auto pins = ToolPins::open("sqlite:keel.db");        // the state database, table tool_pins
//   if (pins->check("everything", spec) == ToolPins::Verdict::kChanged) ... leave it out
//
// Thread-safe (one mutex; the database is touched only at first sight of a definition, a
// change, or an approval: known definitions are answered from memory).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/chat.h"
#include "core/result.h"

struct sqlite3;

namespace keel {

// SHA-256 (hex) of the definition a model sees: name, description and the schema's JSON text.
std::string tool_definition_hash(const ToolSpec& spec);

class ToolPins {
 public:
  enum class Verdict { kNew, kSame, kChanged };

  // "sqlite:PATH" opens (and creates) the table in that database; any other state spec, or
  // ":memory:", keeps pins in memory for this process only.
  static Result<std::unique_ptr<ToolPins>> open(const std::string& state_spec);
  ~ToolPins();

  // kNew stores the definition's hash; kChanged leaves the stored one.
  Result<Verdict> check(const std::string& toolset, const ToolSpec& spec);
  // Stores the definition's hash as approved, replacing any earlier one.
  Status approve(const std::string& toolset, const ToolSpec& spec);

 private:
  ToolPins() = default;
  Status store(const std::string& key, const std::string& toolset, const std::string& tool,
               const std::string& hash);

  std::mutex mutex_;
  sqlite3* db_ = nullptr;
  std::map<std::string, std::string> known_;  // "toolset/tool" -> hash
};

}  // namespace keel

// keel::parse_attribute_filter and parse_attributes over arbitrary JSON: the `filters` of
// POST /v1/vector_stores/{id}/search and of a Responses file_search tool, and the `attributes`
// of a vector store file, as clients send them. Each must be a clean kInvalidArgument naming
// its field, or a value that matches any attributes without a crash, a throw or a hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/attribute_filter.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const keel::Json json = keel::Json::parse(text, nullptr, false);
  if (json.is_discarded()) return 0;
  static const keel::Json kFiles[] = {
      keel::Json::object(),
      keel::Json::parse(R"({"team":"ops","year":2024,"score":0.5,"public":true,"":""})"),
  };
  auto filter = keel::parse_attribute_filter(json, "filters");
  if (!filter) {
    FUZZ_CHECK(filter.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
    FUZZ_CHECK(filter.error().param.starts_with("filters"), "an error naming no field");
  } else {
    for (const keel::Json& file : kFiles) (void)filter->matches(file);
    (void)filter->matches(json);  // any JSON as attributes: not an object matches nothing
  }
  auto attributes = keel::parse_attributes(json, "attributes");
  if (!attributes) {
    FUZZ_CHECK(attributes.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
  } else {
    FUZZ_CHECK(attributes->is_object() && attributes->size() <= 16, "attributes out of bounds");
    if (filter) (void)filter->matches(*attributes);
  }
  return 0;
}

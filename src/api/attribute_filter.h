// OpenAI's attribute filters (ComparisonFilter, CompoundFilter: openai/resources/shared.d.ts)
// and vector store file attributes, as native values: what `filters` on a Responses
// file_search tool and on POST /v1/vector_stores/{id}/search select files by.
//
//   auto filter = parse_attribute_filter(body["filters"], "filters");   // a 400 naming the field
//   if (filter->matches(file_attributes)) ...
//
// Semantics: `eq`/`ne` compare values of one type (a number never equals a string);
// `gt`/`gte`/`lt`/`lte` order two numbers or two strings (by bytes); `in`/`nin` ask whether the
// attribute equals any value of the list. A comparison with an attribute the file does not have
// (or of another type) is false, and so `ne`/`nin` of it are true. Pure values; any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/json_util.h"

namespace keel {

struct AttributeFilter {
  // eq ne gt gte lt lte in nin (a comparison), or and / or (a compound).
  std::string type;
  std::string key;                       // a comparison's attribute
  Json value;                            // a comparison's value (an array for in / nin)
  std::vector<AttributeFilter> filters;  // a compound's

  // Whether a file with `attributes` (a JSON object) passes.
  bool matches(const Json& attributes) const;
};

// `json` as a filter; kInvalidArgument with `param` naming the offending field otherwise.
// Compounds nest at most 8 deep.
Result<AttributeFilter> parse_attribute_filter(const Json& json, const std::string& param);

// Vector store file attributes as OpenAI allows them: an object of at most 16 keys (each at most
// 64 bytes), values strings (at most 512 bytes), numbers or booleans; null is {}.
// kInvalidArgument with `param` otherwise.
Result<Json> parse_attributes(const Json& json, const std::string& param);

}  // namespace keel

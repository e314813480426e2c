// Checks a tool call's arguments against the tool's JSON Schema before the tool runs, so a
// model's malformed call comes back to it as a tool error naming the field, not as a tool's
// surprise.
//
//   Status ok = validate_json_schema(tool.spec().parameters, arguments);
//   if (!ok) ...;   // "arguments.city: expected a string, got number"
//
// The subset tools use (what MCP servers, OpenAPI operations and vendors' strict mode write):
// type (one or a list), properties, required, additionalProperties (bool or schema), items,
// prefixItems, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf,
// minLength, maxLength (in code points), minItems, maxItems, uniqueItems, minProperties,
// maxProperties, allOf, anyOf, oneOf, not, and local $ref ("#/$defs/X", "#/definitions/X").
// Keywords outside it (format, pattern, ...) are not checked: a tool still gets what the model
// sent, and checks it itself.
#pragma once

#include "api/chat.h"
#include "core/result.h"

namespace keel {

Status validate_json_schema(const Json& schema, const Json& value);

}  // namespace keel

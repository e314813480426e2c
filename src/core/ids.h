// Random identifiers for requests, completions and tool calls.
//
//   std::string id = new_id("chatcmpl-");   // "chatcmpl-5f0c9a..." (24 hex digits)
//   std::string rid = new_time_ordered_id("req_", unix_millis());   // sorts by time
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keel {

std::string new_id(std::string_view prefix);

// Also 24 hex digits after `prefix`: the first 12 are `unix_ms` (big-endian, so ids sort by
// time as strings), the last 12 random (48 bits: unique within a millisecond). Keys that grow
// with time append to the right edge of a B-tree index instead of dirtying a random page of it
// per insert, which is what the request log's primary keys need.
std::string new_time_ordered_id(std::string_view prefix, int64_t unix_ms);

// 64 random bits from this thread's generator (the one these ids use); trace and span ids too.
uint64_t random_bits();

}  // namespace keel

#include "core/trace.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "core/ids.h"

namespace keel {
namespace {

constexpr char kHex[] = "0123456789abcdef";

uint64_t nonzero_random() {
  uint64_t value;
  do value = random_bits();
  while (value == 0);
  return value;
}

void append_hex(std::string& out, uint64_t value, int digits) {
  for (int i = digits - 1; i >= 0; --i) out += kHex[(value >> (4 * i)) & 0xf];
}

// A byte's value as a hex digit, -1 when it is none: one load per digit (a request's trace id
// parses 24 of them per request, on the io thread and again on the log's writer).
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) table[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) table[c] = static_cast<int8_t>(c - 'A' + 10);
  return table;
}();

int hex_digit(char c) { return kHexValue[static_cast<unsigned char>(c)]; }

// `digits` hex digits of `text` from `at` into `value`; false on a non-hex character.
bool parse_hex(std::string_view text, size_t at, size_t digits, uint64_t& value) {
  value = 0;
  for (size_t i = at; i < at + digits; ++i) {
    const int digit = hex_digit(text[i]);
    if (digit < 0) return false;
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return true;
}

// splitmix64's finaliser: spreads every input bit over the output.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash_text(std::string_view text, uint64_t seed) {
  uint64_t h = seed;
  for (char c : text) h = mix(h ^ static_cast<unsigned char>(c));
  return h;
}

constexpr std::string_view kRequestPrefix = "req_";
constexpr size_t kRequestDigits = 24;

}  // namespace

std::string TraceId::hex() const {
  std::string out;
  out.reserve(32);
  append_hex(out, high, 16);
  append_hex(out, low, 16);
  return out;
}

TraceId TraceId::from_hex(std::string_view hex) {
  TraceId id;
  if (hex.size() != 32 || !parse_hex(hex, 0, 16, id.high) || !parse_hex(hex, 16, 16, id.low)) {
    return TraceId{};
  }
  return id;
}

TraceId TraceId::random() { return TraceId{nonzero_random(), nonzero_random()}; }

TraceId TraceId::time_ordered(int64_t unix_ms) {
  // 48 bits of milliseconds reach the year 10889; any time after 1970-01-01 00:01:06 keeps
  // the top 32 bits non-zero, which request_id() needs to tell it from a request's.
  const uint64_t ms =
      static_cast<uint64_t>(std::max<int64_t>(unix_ms, 1 << 16)) & 0xffff'ffff'ffffULL;
  return TraceId{(ms << 16) | (random_bits() & 0xffff), nonzero_random()};
}

TraceId TraceId::for_request(std::string_view request_id) {
  uint64_t high = 0;
  uint64_t low = 0;
  if (request_id.size() == kRequestPrefix.size() + kRequestDigits &&
      request_id.substr(0, kRequestPrefix.size()) == kRequestPrefix &&
      parse_hex(request_id, kRequestPrefix.size(), 8, high) &&
      parse_hex(request_id, kRequestPrefix.size() + 8, 16, low) && (high != 0 || low != 0)) {
    return TraceId{high, low};
  }
  // Not keel's shape (a client's own id): hashed, with the top bit set so that it never reads
  // as a request's trace id.
  return TraceId{hash_text(request_id, 1) | (1ull << 63), hash_text(request_id, 2)};
}

std::string TraceId::request_id() const {
  if ((high >> 32) != 0 || !valid()) return "";
  std::string out(kRequestPrefix);
  out.reserve(kRequestPrefix.size() + kRequestDigits);
  append_hex(out, high, 8);
  append_hex(out, low, 16);
  return out;
}

std::string SpanId::hex() const {
  std::string out;
  out.reserve(16);
  append_hex(out, value, 16);
  return out;
}

SpanId SpanId::from_hex(std::string_view hex) {
  SpanId id;
  if (hex.size() != 16 || !parse_hex(hex, 0, 16, id.value)) return SpanId{};
  return id;
}

SpanId SpanId::random() { return SpanId{nonzero_random()}; }

SpanId SpanId::derived(uint64_t base, uint64_t index) {
  const uint64_t value = mix(base ^ mix(index));
  return SpanId{value == 0 ? 1 : value};
}

SpanId derived_span_id(const TraceId& trace, uint64_t index) {
  return SpanId::derived(trace.high ^ mix(trace.low), index);
}

Trace Trace::for_request(std::string_view request_id) {
  const TraceId id = TraceId::for_request(request_id);
  return Trace(id, derived_span_id(id, 0));
}

Result<TraceId> parse_trace_ref(std::string_view text) {
  if (text.starts_with("req_")) {
    const TraceId id = TraceId::for_request(text);
    if (id.request_id() == text) return id;
  } else if (const TraceId id = TraceId::from_hex(text); id.valid()) {
    return id;
  }
  Error error(ErrorCode::kInvalidArgument,
              "'" + std::string(text.substr(0, 64)) +
                  "' is neither a request id (req_ and 24 hex digits) nor a trace id (32 hex "
                  "digits)");
  error.param = "id";
  return error;
}

const char* span_kind_name(SpanKind kind) {
  switch (kind) {
    case SpanKind::kServer:
      return "server";
    case SpanKind::kClient:
      return "client";
    case SpanKind::kInternal:
      break;
  }
  return "internal";
}

const char* span_status_name(SpanStatus status) {
  switch (status) {
    case SpanStatus::kOk:
      return "ok";
    case SpanStatus::kError:
      return "error";
    case SpanStatus::kUnset:
      break;
  }
  return "unset";
}

void Span::set(std::string_view key, AttributeValue value) {
  for (SpanAttribute& attribute : attributes) {
    if (attribute.key == key) {
      attribute.value = std::move(value);
      return;
    }
  }
  attributes.push_back(SpanAttribute{std::string(key), std::move(value)});
}

const AttributeValue* Span::find(std::string_view key) const {
  for (const SpanAttribute& attribute : attributes) {
    if (attribute.key == key) return &attribute.value;
  }
  return nullptr;
}

int64_t unix_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SpanScope::SpanScope(TraceContext parent, std::string_view name, SpanKind kind) {
  if (!parent) return;
  trace_ = parent.trace;
  span_.trace_id = trace_->id();
  span_.span_id = SpanId::random();
  span_.parent_id = parent.parent;
  span_.name = name;
  span_.kind = kind;
  span_.start_ns = unix_nanos();
  span_.attributes.reserve(8);
}

void SpanScope::fail(std::string_view message) {
  if (!trace_) return;
  span_.status = SpanStatus::kError;
  span_.status_message = message;
}

void SpanScope::end() {
  if (!trace_) return;
  span_.end_ns = unix_nanos();
  trace_->add(std::move(span_));
  trace_ = nullptr;
}

}  // namespace keel

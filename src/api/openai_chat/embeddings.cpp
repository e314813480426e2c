// Embeddings in both directions: the client's request, the upstream's body and answer, the
// answer to the client (openai_chat.h).
// None of the functions that read untrusted bytes throws: JSON is depth-checked before it is
// parsed, every value's type is checked before it is read, and each public function also
// catches at its own boundary as a last line of defence.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include "api/json_scan.h"
#include "api/json_util.h"
#include "api/openai_chat/internal.h"
#include "api/openai_chat/openai_chat.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;

using namespace openai_chat_internal;

namespace {

constexpr size_t kMaxEmbeddingInputs = 2048;

// The double whose shortest decimal form is the float's shortest form, so 0.1f is written as
// 0.1 rather than 0.10000000149011612.
double float_for_json(float value) {
  if (!std::isfinite(value)) return 0.0;
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) return value;
  double out = value;
  std::from_chars(buffer, end, out);
  return out;
}

}  // namespace

Result<EmbedRequest> parse_embed_request(std::string_view body) {
  try {
    auto parsed = parse_json(body, ErrorCode::kInvalidArgument, "request body");
    if (!parsed) return parsed.error();
    const Json& json = *parsed;
    if (!json.is_object()) {
      return invalid("", std::string("request body must be a JSON object, got ") + describe(json));
    }
    EmbedRequest req;
    const Json* model = member(json, "model");
    if (!model) return invalid("model", "model is required");
    if (!model->is_string()) return wrong_type("model", "a string", *model);
    if (str(*model).empty()) return invalid("model", "model must not be empty");
    req.model = str(*model);

    const Json* input = member(json, "input");
    if (!input) return invalid("input", "input is required");
    if (input->is_string()) {
      if (str(*input).empty()) return invalid("input", "input must not be an empty string");
      req.inputs.push_back(str(*input));
    } else if (input->is_array()) {
      if (input->empty()) return invalid("input", "input must not be an empty array");
      if (input->size() > kMaxEmbeddingInputs) {
        return invalid("input",
                       "input may hold at most " + std::to_string(kMaxEmbeddingInputs) + " items");
      }
      const Json& first = (*input)[0];
      for (size_t i = 0; i < input->size(); ++i) {
        const Json& item = (*input)[i];
        std::string path = indexed("input", i);
        if (first.is_string()) {
          if (!item.is_string()) return wrong_type(path, "a string", item);
          if (str(item).empty()) return invalid(path, path + " must not be an empty string");
          req.inputs.push_back(str(item));
        } else if (first.is_number()) {  // one token array; kept in raw_input only
          if (!as_int64(item)) return wrong_type(path, "an integer token", item);
        } else if (first.is_array()) {  // several token arrays
          if (!item.is_array() || item.empty()) {
            return wrong_type(path, "a non-empty array of integer tokens", item);
          }
          for (const auto& token : item) {
            if (!as_int64(token)) return wrong_type(path, "an array of integer tokens", item);
          }
        } else {
          return wrong_type(path, "a string, an integer token or an array of tokens", item);
        }
      }
    } else {
      return wrong_type("input", "a string or an array", *input);
    }
    req.raw_input = *input;

    if (const Json* format = member(json, "encoding_format")) {
      if (!format->is_string()) return wrong_type("encoding_format", "a string", *format);
      if (str(*format) == "base64") {
        req.base64 = true;
      } else if (str(*format) != "float") {
        return invalid("encoding_format", "encoding_format must be float or base64");
      }
    }
    if (auto st = read_positive_integer(json, "dimensions", req.dimensions); !st.ok()) {
      return st.error();
    }
    if (auto st = read_string(json, "user", "user", req.user); !st.ok()) return st.error();
    for (const auto& [key, value] : json.items()) {
      if (key != "model" && key != "input" && key != "encoding_format" && key != "dimensions" &&
          key != "user") {
        append_member(req.passthrough, key, value);
      }
    }
    return req;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("could not read the request: ") + e.what());
  }
}

Json embed_request_to_wire(const EmbedRequest& req, const std::string& upstream_model) {
  Json wire = Json::object();
  wire["model"] = upstream_model;
  if (!req.raw_input.is_null()) {
    wire["input"] = req.raw_input;
  } else if (req.inputs.size() == 1) {
    wire["input"] = req.inputs.front();
  } else {
    wire["input"] = req.inputs;
  }
  // Always floats from upstream (every OpenAI-compatible server speaks them); keel encodes
  // base64 for its client itself.
  wire["encoding_format"] = "float";
  if (req.dimensions) wire["dimensions"] = *req.dimensions;
  if (!req.user.empty()) wire["user"] = req.user;
  append_absent(wire, req.passthrough);
  return wire;
}

Result<Embeddings> embeddings_from_wire(std::string_view body) {
  try {
    const std::string prefix = "upstream returned invalid embeddings: ";
    auto parsed = parse_json(body, ErrorCode::kBadGateway, "upstream response");
    if (!parsed) return bad_gateway(prefix + parsed.error().message);
    const Json& json = *parsed;
    if (!json.is_object()) return bad_gateway(prefix + "body is " + describe(json));
    const Json* data = member(json, "data");
    if (!data) {
      if (auto message = error_payload_message(json))
        return bad_gateway("upstream error: " + *message);
      return bad_gateway(prefix + "no data");
    }
    if (!data->is_array()) return bad_gateway(prefix + "data is not an array");
    Embeddings out;
    out.vectors.resize(data->size());
    std::vector<bool> filled(data->size(), false);
    for (size_t i = 0; i < data->size(); ++i) {
      const Json& item = (*data)[i];
      if (!item.is_object()) return bad_gateway(prefix + "data item is not an object");
      size_t index = i;
      if (const Json* wire_index = member(item, "index")) {
        auto value = as_int64(*wire_index);
        if (!value || *value < 0 || static_cast<uint64_t>(*value) >= data->size()) {
          return bad_gateway(prefix + "index out of range");
        }
        index = static_cast<size_t>(*value);
      }
      if (filled[index]) return bad_gateway(prefix + "duplicate index");
      filled[index] = true;
      const Json* embedding = member(item, "embedding");
      if (!embedding) return bad_gateway(prefix + "data item has no embedding");
      std::vector<float>& vector = out.vectors[index];
      if (embedding->is_array()) {
        vector.reserve(embedding->size());
        for (const auto& number : *embedding) {
          if (!number.is_number()) return bad_gateway(prefix + "embedding holds a non-number");
          vector.push_back(static_cast<float>(number.get<double>()));
        }
      } else if (embedding->is_string()) {
        auto bytes = base64_decode(str(*embedding));
        if (!bytes || bytes->size() % 4 != 0)
          return bad_gateway(prefix + "embedding is not base64 float32");
        vector.resize(bytes->size() / 4);
        for (size_t k = 0; k < vector.size(); ++k) {
          const auto* b = reinterpret_cast<const unsigned char*>(bytes->data() + 4 * k);
          uint32_t bits = uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) |
                          (uint32_t{b[3]} << 24);
          std::memcpy(&vector[k], &bits, sizeof bits);
        }
      } else {
        return bad_gateway(prefix + "embedding is neither an array nor a base64 string");
      }
    }
    out.model = optional_string(json, "model");
    if (const Json* usage = member(json, "usage")) {
      auto parsed_usage = usage_from_wire(*usage);
      if (!parsed_usage) return bad_gateway(prefix + parsed_usage.error().message);
      out.usage = *parsed_usage;
    }
    return out;
  } catch (const std::exception& e) {
    return bad_gateway(std::string("upstream returned invalid embeddings: ") + e.what());
  }
}

Json embeddings_to_wire(const Embeddings& embeddings, bool base64) {
  Json data = Json::array();
  for (size_t i = 0; i < embeddings.vectors.size(); ++i) {
    const std::vector<float>& vector = embeddings.vectors[i];
    Json item = {{"object", "embedding"}, {"index", i}};
    if (base64) {
      std::string bytes(vector.size() * 4, '\0');
      for (size_t k = 0; k < vector.size(); ++k) {
        uint32_t bits;
        std::memcpy(&bits, &vector[k], sizeof bits);
        bytes[4 * k] = static_cast<char>(bits & 0xff);  // little-endian, as OpenAI sends it
        bytes[4 * k + 1] = static_cast<char>((bits >> 8) & 0xff);
        bytes[4 * k + 2] = static_cast<char>((bits >> 16) & 0xff);
        bytes[4 * k + 3] = static_cast<char>((bits >> 24) & 0xff);
      }
      item["embedding"] =
          base64_encode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    } else {
      Json numbers = Json::array();
      numbers.get_ref<Json::array_t&>().reserve(vector.size());
      for (float value : vector) numbers.push_back(float_for_json(value));
      item["embedding"] = std::move(numbers);
    }
    data.push_back(std::move(item));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", embeddings.model},
          {"usage",
           {{"prompt_tokens", embeddings.usage.prompt_tokens},
            {"total_tokens", embeddings.usage.total_tokens}}}};
}

}  // namespace keel

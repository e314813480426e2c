// Documents (a PDF or text the user attaches) through every wire format: what each front door
// reads into the native document part, what each vendor gets, and the 400s. The translations
// themselves are goldens too (documents.* and fd_documents* in tests/golden/).
#include <gtest/gtest.h>

#include <string>

#include "api/anthropic/anthropic.h"
#include "api/gemini/gemini.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "api/responses/responses.h"

namespace keel {
namespace {

// "%PDF-1.4\n" and "hello\n", base64.
constexpr const char* kPdf = "JVBERi0xLjQK";
constexpr const char* kPdfUrl = "data:application/pdf;base64,JVBERi0xLjQK";

Json chat_body(Json part, const char* role = "user") {
  return {{"model", "m"},
          {"messages", Json::array({{{"role", role},
                                     {"content", Json::array({{{"type", "text"}, {"text", "Read"}},
                                                              std::move(part)})}}})}};
}

Json file_part(Json file) { return {{"type", "file"}, {"file", std::move(file)}}; }

const Document& only_document(const ChatRequest& req) {
  const ContentPart* part = first_document(req.messages);
  EXPECT_NE(part, nullptr);
  static const Document kNone;
  return part ? *part->document : kNone;
}

TEST(Documents, OpenAIChatFilePartIsADocument) {
  auto req = parse_chat_request(
      chat_body(file_part({{"file_data", kPdfUrl}, {"filename", "a.pdf"}})).dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  const Document& document = only_document(*req);
  EXPECT_EQ(document.media_type, "application/pdf");
  EXPECT_EQ(document.data, kPdf);
  EXPECT_FALSE(document.is_text);
  EXPECT_EQ(document.filename, "a.pdf");
}

TEST(Documents, OpenAIChatBadFilePartsAreA400NamingTheField) {
  struct Case {
    Json body;
    const char* param;
  };
  for (const Case& c : std::vector<Case>{
           {chat_body(file_part({{"file_id", "file-abc"}})), "messages[0].content[1].file.file_id"},
           {chat_body(file_part({{"filename", "a.pdf"}})), "messages[0].content[1].file.file_data"},
           {chat_body(file_part({{"file_data", "JVBERi0xLjQK"}})),
            "messages[0].content[1].file.file_data"},
           {chat_body(file_part({{"file_data", "data:application/pdf,plain"}})),
            "messages[0].content[1].file.file_data"},
           {chat_body(file_part({{"file_data", kPdfUrl}, {"filename", 3}})),
            "messages[0].content[1].file.filename"},
           {chat_body({{"type", "file"}}), "messages[0].content[1].file"},
           {chat_body(file_part({{"file_data", kPdfUrl}}), "assistant"),
            "messages[0].content[1].type"},
       }) {
    auto req = parse_chat_request(c.body.dump());
    ASSERT_FALSE(req.ok()) << c.body.dump();
    EXPECT_EQ(req.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(req.error().param, c.param) << req.error().message;
  }
}

TEST(Documents, AnthropicDocumentBlockKeepsTitleContextAndCitations) {
  Json block = {{"type", "document"},
                {"source", {{"type", "text"}, {"media_type", "text/plain"}, {"data", "hello"}}},
                {"title", "Notes"},
                {"context", "from the meeting"},
                {"citations", {{"enabled", true}}},
                {"cache_control", {{"type", "ephemeral"}}}};
  Json body = {{"model", "claude"},
               {"max_tokens", 10},
               {"messages", Json::array({{{"role", "user"}, {"content", Json::array({block})}}})}};
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  const Document& document = only_document(*req);
  EXPECT_TRUE(document.is_text);
  EXPECT_EQ(document.data, "hello");
  EXPECT_EQ(document.title, "Notes");
  EXPECT_EQ(document.context, "from the meeting");
  EXPECT_EQ(document.citations, Json({{"enabled", true}}));

  // Anthropic gets the block back (cache_control is a hint keel drops everywhere).
  auto wire = chat_request_to_anthropic(*req, "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  block.erase("cache_control");
  EXPECT_EQ((*wire)["messages"][0]["content"][0], block);
  // OpenAI gets a file part; Gemini inlineData, the text encoded.
  Json openai = chat_request_to_wire(*req, "gpt");
  EXPECT_EQ(
      openai["messages"][0]["content"][0],
      Json({{"type", "file"},
            {"file", {{"file_data", "data:text/plain;base64,aGVsbG8="}, {"filename", "Notes"}}}}));
  auto gemini = chat_request_to_gemini(*req);
  ASSERT_TRUE(gemini.ok()) << gemini.error().message;
  EXPECT_EQ((*gemini)["contents"][0]["parts"][0],
            Json({{"inlineData", {{"mimeType", "text/plain"}, {"data", "aGVsbG8="}}}}));
}

TEST(Documents, VendorsRefuseTypesTheyCannotRead) {
  auto req = parse_chat_request(
      chat_body(file_part({{"file_data", "data:application/zip;base64,UEsDBA=="}})).dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  auto anthropic = chat_request_to_anthropic(*req, "claude");
  ASSERT_FALSE(anthropic.ok());
  EXPECT_EQ(anthropic.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(anthropic.error().message,
            "document input (application/zip) is not supported by provider kind anthropic");
  EXPECT_EQ(anthropic.error().param, "messages[0].content[1]");
  auto gemini = chat_request_to_gemini(*req);
  ASSERT_FALSE(gemini.ok());
  EXPECT_EQ(gemini.error().message,
            "document input (application/zip) is not supported by provider kind gemini");
  // A text/plain file whose data is not base64 cannot become Anthropic's text source.
  auto text = parse_chat_request(
      chat_body(file_part({{"file_data", "data:text/plain;base64,@@@@"}})).dump());
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_FALSE(chat_request_to_anthropic(*text, "claude").ok());
}

ResponsesRequest responses(const Json& part) {
  Json body = {{"model", "m"},
               {"input", Json::array({{{"role", "user"}, {"content", Json::array({part})}}})}};
  auto req = parse_responses_request(body.dump());
  EXPECT_TRUE(req.ok()) << (req.ok() ? "" : req.error().message);
  if (!req.ok()) return {};
  build_messages(*req, Json::array());
  return std::move(*req);
}

TEST(Documents, ResponsesInputFileIsADocument) {
  ResponsesRequest req =
      responses({{"type", "input_file"}, {"file_data", kPdfUrl}, {"filename", "a.pdf"}});
  const Document& document = only_document(req.chat);
  EXPECT_EQ(document.media_type, "application/pdf");
  EXPECT_EQ(document.data, kPdf);
  EXPECT_EQ(document.filename, "a.pdf");
  // The stored item is the normalised part, which rebuilds the same document.
  EXPECT_EQ(req.input_items[0]["content"][0],
            Json({{"type", "input_file"}, {"file_data", kPdfUrl}, {"filename", "a.pdf"}}));
}

TEST(Documents, ResponsesFileIdAndFileUrlAreA400NamingThem) {
  struct Case {
    Json part;
    const char* param;
  };
  for (const Case& c : std::vector<Case>{
           {{{"type", "input_file"}, {"file_id", "file-1"}}, "input[0].content[0].file_id"},
           {{{"type", "input_file"}, {"file_url", "https://x/a.pdf"}},
            "input[0].content[0].file_url"},
           {{{"type", "input_file"}, {"file_data", "%PDF"}}, "input[0].content[0].file_data"},
       }) {
    Json body = {{"model", "m"},
                 {"input", Json::array({{{"role", "user"}, {"content", Json::array({c.part})}}})}};
    auto req = parse_responses_request(body.dump());
    ASSERT_FALSE(req.ok()) << c.part.dump();
    EXPECT_EQ(req.error().param, c.param) << req.error().message;
    EXPECT_NE(req.error().message.find(c.param), std::string::npos) << req.error().message;
  }
}

TEST(Documents, DataUrlsAndText) {
  auto document = document_from_data_url("DATA:Text/Plain;charset=utf-8;BASE64,aGk=");
  ASSERT_TRUE(document);
  EXPECT_EQ(document->media_type, "text/plain");
  EXPECT_EQ(document_text(*document), "hi");
  EXPECT_EQ(document_data_url(*document), "data:text/plain;base64,aGk=");
  EXPECT_FALSE(document_from_data_url("data:;base64,aGk="));
  EXPECT_FALSE(document_from_data_url("data:text/plain;base64,"));
  EXPECT_FALSE(document_from_data_url("https://x/a.pdf"));
  Document text;
  text.is_text = true;
  text.media_type = "text/plain";
  text.data = "hi";
  EXPECT_EQ(document_base64(text), "aGk=");
}

}  // namespace
}  // namespace keel

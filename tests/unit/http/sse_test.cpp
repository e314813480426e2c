// SseParser against WHATWG HTML "9.2.6 Interpreting an event stream", and sse_frame.
#include "http/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel {
namespace {

std::vector<SseEvent> parse(std::string_view bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.feed(bytes, [&](const SseEvent& event) { events.push_back(event); }));
  return events;
}

// The same stream fed one byte at a time.
std::vector<SseEvent> parse_bytewise(std::string_view bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : bytes) {
    EXPECT_TRUE(parser.feed(std::string_view(&c, 1),
                            [&](const SseEvent& event) { events.push_back(event); }));
  }
  return events;
}

std::vector<std::string> datas(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(event.data);
  return out;
}

bool same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].data != b[i].data || a[i].event != b[i].event || a[i].id != b[i].id) return false;
  }
  return true;
}

TEST(SseParserTest, OneEvent) {
  auto events = parse("data: {\"a\":1}\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[0].event, "");
  EXPECT_EQ(events[0].id, "");
}

TEST(SseParserTest, MultiLineDataIsJoinedWithLf) {
  auto events = parse("data: first\ndata: second\ndata:third\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "first\nsecond\nthird");
}

TEST(SseParserTest, OnlyOneLeadingSpaceIsRemoved) {
  EXPECT_EQ(datas(parse("data:x\n\n")), std::vector<std::string>{"x"});
  EXPECT_EQ(datas(parse("data:  two spaces\n\n")), std::vector<std::string>{" two spaces"});
  EXPECT_EQ(datas(parse("data: trailing \n\n")), std::vector<std::string>{"trailing "});
  EXPECT_EQ(datas(parse("data: a: b\n\n")), std::vector<std::string>{"a: b"});  // first colon only
}

TEST(SseParserTest, EmptyDataStillDispatches) {
  // "data" with no colon is the field with an empty value; the buffer is "\n", not empty, so
  // the event is dispatched with empty data (spec: the trailing LF is removed at dispatch).
  EXPECT_EQ(datas(parse("data\n\n")), std::vector<std::string>{""});
  EXPECT_EQ(datas(parse("data:\n\n")), std::vector<std::string>{""});
  EXPECT_EQ(datas(parse("data\ndata\n\n")), std::vector<std::string>{"\n"});
}

TEST(SseParserTest, LineEndingsCrLfCrAndLf) {
  const std::vector<std::string> expected{"a", "b", "c"};
  EXPECT_EQ(datas(parse("data: a\n\ndata: b\n\ndata: c\n\n")), expected);
  EXPECT_EQ(datas(parse("data: a\r\n\r\ndata: b\r\n\r\ndata: c\r\n\r\n")), expected);
  EXPECT_EQ(datas(parse("data: a\r\rdata: b\r\rdata: c\r\r")), expected);
  // Mixed within one stream, including LF then CR (two line ends, not one).
  EXPECT_EQ(datas(parse("data: a\r\n\ndata: b\n\rdata: c\r\r\n")), expected);
  // CRLF inside multi-line data.
  EXPECT_EQ(datas(parse("data: x\r\ndata: y\r\n\r\n")), std::vector<std::string>{"x\ny"});
}

TEST(SseParserTest, CrLfSplitAcrossFeedsIsOneLineEnd) {
  SseParser parser;
  std::vector<SseEvent> events;
  auto on_event = [&](const SseEvent& event) { events.push_back(event); };
  ASSERT_TRUE(parser.feed("data: a\r", on_event));
  ASSERT_TRUE(parser.feed("\ndata: b\r", on_event));
  ASSERT_TRUE(parser.feed("\n", on_event));
  EXPECT_TRUE(events.empty());   // no blank line yet
  ASSERT_TRUE(parser.feed("\r\n", on_event));
  EXPECT_EQ(datas(events), std::vector<std::string>{"a\nb"});
}

TEST(SseParserTest, CommentsAreIgnored) {
  auto events = parse(": keep-alive\n\n:another\ndata: x\n: in the middle\ndata: y\n\n");
  EXPECT_EQ(datas(events), std::vector<std::string>{"x\ny"});
  // A comment alone dispatches nothing.
  EXPECT_TRUE(parse(": ping\n\n").empty());
}

TEST(SseParserTest, EventAndIdFields) {
  auto events = parse("event: message_start\nid: 7\ndata: {}\n\ndata: next\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "message_start");
  EXPECT_EQ(events[0].id, "7");
  // The event type resets after each dispatch; the last event id persists.
  EXPECT_EQ(events[1].event, "");
  EXPECT_EQ(events[1].id, "7");
}

TEST(SseParserTest, EventTypeWithoutDataIsDropped) {
  auto events = parse("event: ping\n\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "");   // "ping" did not leak into the next event
  EXPECT_EQ(events[0].data, "x");
}

TEST(SseParserTest, IdWithNulIsIgnored) {
  std::string stream = "id: 1\ndata: a\n\nid: 2";
  stream += '\0';
  stream += "x\ndata: b\n\n";
  auto events = parse(stream);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].id, "1");
}

TEST(SseParserTest, UnknownFieldsAndRetryAreIgnored) {
  auto events = parse("retry: 1000\nfoo: bar\nDATA: upper\ndata : spaced\ndata: kept\n\n");
  EXPECT_EQ(datas(events), std::vector<std::string>{"kept"});
}

TEST(SseParserTest, NoTrailingBlankLineNoDispatch) {
  EXPECT_TRUE(parse("data: x\n").empty());
  EXPECT_TRUE(parse("data: x").empty());
  EXPECT_TRUE(parse("data: x\r").empty());
  SseParser parser;
  int count = 0;
  parser.feed("data: partial", [&](const SseEvent&) { ++count; });
  EXPECT_EQ(count, 0);
  EXPECT_EQ(parser.pending(), std::string("data: partial").size());
}

TEST(SseParserTest, Bom) {
  EXPECT_EQ(datas(parse("\xEF\xBB\xBF" "data: x\n\n")), std::vector<std::string>{"x"});
  // Split across feeds.
  EXPECT_EQ(datas(parse_bytewise("\xEF\xBB\xBF" "data: x\n\n")), std::vector<std::string>{"x"});
  // Only at the very start: a second BOM is part of the field name, so the line is ignored.
  EXPECT_TRUE(parse("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\n").empty());
  // Not a BOM later in the stream either.
  EXPECT_EQ(datas(parse("data: a\n\n\xEF\xBB\xBF" "data: b\n\n")), std::vector<std::string>{"a"});
}

TEST(SseParserTest, ByteAtATimeGivesTheSameEvents) {
  const std::string stream =
      "\xEF\xBB\xBF"
      ": comment\r\n"
      "event: start\r\n"
      "id: 1\r\n"
      "data: {\"x\":\r\n"
      "data: 1}\r\n"
      "\r\n"
      "data: two\r\r"
      "data: three\n"
      "data:four\n\n"
      "event: end\n"
      "id: 9\n"
      "data: [DONE]\n\n"
      "data: never dispatched";
  auto whole = parse(stream);
  ASSERT_EQ(whole.size(), 4u);
  EXPECT_EQ(whole[0].event, "start");
  EXPECT_EQ(whole[0].data, "{\"x\":\n1}");
  EXPECT_EQ(whole[1].data, "two");
  EXPECT_EQ(whole[2].data, "three\nfour");
  EXPECT_EQ(whole[3].event, "end");
  EXPECT_EQ(whole[3].id, "9");
  EXPECT_EQ(whole[3].data, "[DONE]");
  EXPECT_TRUE(same(parse_bytewise(stream), whole));
  // And at every split point into two feeds.
  for (size_t split = 0; split <= stream.size(); ++split) {
    SseParser parser;
    std::vector<SseEvent> events;
    auto on_event = [&](const SseEvent& event) { events.push_back(event); };
    parser.feed(std::string_view(stream).substr(0, split), on_event);
    parser.feed(std::string_view(stream).substr(split), on_event);
    EXPECT_TRUE(same(events, whole)) << "split at " << split;
  }
}

// LF-ended lines before a CR-ended one in the same bytes, and the other way round: every line
// end is found whatever lies further on in the buffer.
TEST(SseParserTest, LineEndsOfBothKindsInOneBuffer) {
  const std::string stream =
      "data: a\ndata: b\n\ndata: c\r\rdata: d\r\n\r\ndata: e\n\ndata: f\rdata: g\n\r";
  auto whole = parse(stream);
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_EQ(datas(whole), (std::vector<std::string>{"a\nb", "c", "d", "e", "f\ng"}));
  EXPECT_TRUE(same(parse_bytewise(stream), whole));
}

TEST(SseParserTest, LineOverLimitFailsForGood) {
  SseParser parser;
  parser.set_max_line_bytes(16);
  int count = 0;
  auto on_event = [&](const SseEvent&) { ++count; };
  EXPECT_TRUE(parser.feed("data: 0123456789\n\n", on_event));   // exactly 16 bytes: fine
  EXPECT_EQ(count, 1);
  EXPECT_FALSE(parser.failed());
  EXPECT_FALSE(parser.feed("data: 0123456789A\n\n", on_event));
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(count, 1);
  // Stays failed: nothing more is parsed.
  EXPECT_FALSE(parser.feed("data: ok\n\n", on_event));
  EXPECT_EQ(count, 1);
}

TEST(SseParserTest, HtmlIsNotAnEventStream) {
  // A long line with no line end (an HTML error page without newlines) trips the limit.
  SseParser parser;
  parser.set_max_line_bytes(64);
  int count = 0;
  EXPECT_FALSE(parser.feed(std::string(1000, 'x'), [&](const SseEvent&) { ++count; }));
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(count, 0);
}

TEST(SseFrameTest, SingleLine) {
  EXPECT_EQ(sse_frame("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_frame(""), "data: \n\n");
}

TEST(SseFrameTest, EventName) {
  EXPECT_EQ(sse_frame("{}", "message_start"), "event: message_start\ndata: {}\n\n");
}

// A frame of one-line data written in place is the frame sse_frame writes.
TEST(SseFrameTest, WrittenInPlaceForOneLineData) {
  for (std::string_view event : {"", "response.created"}) {
    std::string out = "before";
    open_sse_frame(out, event);
    out += "{\"a\":1}";
    close_sse_frame(out);
    EXPECT_EQ(out, "before" + sse_frame("{\"a\":1}", event));
  }
}

TEST(SseFrameTest, NewlinesInDataBecomeSeveralDataLines) {
  EXPECT_EQ(sse_frame("a\nb\n\nc"), "data: a\ndata: b\ndata: \ndata: c\n\n");
  EXPECT_EQ(sse_frame("end\n"), "data: end\ndata: \n\n");
}

TEST(SseFrameTest, RoundTripsThroughTheParser) {
  for (std::string data : {"plain", "a\nb", "\n", "x\n\ny", " leading space", "[DONE]"}) {
    auto events = parse(sse_frame(data, "e"));
    ASSERT_EQ(events.size(), 1u) << data;
    EXPECT_EQ(events[0].data, data);
    EXPECT_EQ(events[0].event, "e");
  }
}

// A CR in data is a line end to the reader, so sse_frame must split on it as on LF.
// DISABLED: fails until the sse_frame fix reported with these tests is applied to
// src/http/sse.cpp ("a\rb" loses "b"; "a\r\nb" happens to survive).
TEST(SseFrameTest, CarriageReturnsInDataRoundTrip) {
  for (std::string data : {"a\rb", "a\r\nb", "\r"}) {
    auto events = parse(sse_frame(data));
    ASSERT_EQ(events.size(), 1u) << data;
    // The reader normalises every line end to LF.
    std::string expected = data == "a\rb" ? "a\nb" : data == "a\r\nb" ? "a\nb" : "\n";
    EXPECT_EQ(events[0].data, expected);
  }
}

// Found by sse_fuzz (fuzz/regressions/sse/): a lone 0xEF is not a BOM; the line end after it
// must still end the line, so the next line is parsed.
TEST(SseParserRegression, PartialBomDoesNotSwallowLineEnd) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed("\xEF\ndata: x\n\n", [&](const SseEvent& e) { events.push_back(e); });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "x");
}

}  // namespace
}  // namespace keel

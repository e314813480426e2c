#include "evals/dataset.h"

#include <gtest/gtest.h>

#include "evals/mapping.h"

namespace keel::evals {
namespace {

TEST(Csv, QuotesCommasAndLineBreaks) {
  auto rows = parse_csv("q,a\r\n\"1, 2\",\"say \"\"hi\"\"\"\n\"two\nlines\",x\n");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0]["q"], "1, 2");
  EXPECT_EQ((*rows)[0]["a"], "say \"hi\"");
  EXPECT_EQ((*rows)[1]["q"], "two\nlines");
  EXPECT_EQ((*rows)[1]["a"], "x");
}

TEST(Csv, EmptyFieldsBomAndNoFinalNewline) {
  auto rows = parse_csv("\xEF\xBB\xBFq,a,c\n,,\nx,\"\",z");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0]["q"], "");
  EXPECT_EQ((*rows)[1]["a"], "");
  EXPECT_EQ((*rows)[1]["c"], "z");
}

TEST(Csv, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"q,a\n\"open,x\n", "line 2: a quoted field is never closed"},
      {"q,a\n1,2,3\n", "line 2: 3 fields, but the header has 2"},
      {"q,a\n\"1\"x,2\n", "line 2: text after a closing quote"},
      {"q,a\n1\"2,3\n", "line 2: a quote inside an unquoted field"},
      {"q,q\n1,2\n", "line 1: repeated column name \"q\""},
      {"q,\n1,2\n", "line 1: an empty column name"},
      {"q,a\n\"x\ny\",1\n1,2,3\n", "line 4: 3 fields"},
      {"q\r1\n", "line 1: a lone carriage return"},
  };
  for (const auto& c : cases) {
    auto rows = parse_csv(c.text);
    ASSERT_FALSE(rows) << c.text;
    EXPECT_EQ(rows.error().message.rfind(c.message, 0), 0u) << rows.error().message;
  }
}

TEST(Jsonl, ObjectsPerLineBlankLinesSkipped) {
  auto rows =
      parse_jsonl("{\"question\": \"1+1\", \"answer\": \"2\"}\r\n\n  \n{\"question\": \"x\"}");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0]["answer"], "2");
}

TEST(Jsonl, ErrorsNameTheLine) {
  auto rows = parse_jsonl("{\"a\": 1}\n[1, 2]\n");
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().message, "line 2: expected a JSON object, got an array");
  rows = parse_jsonl("{\"a\": 1}\n\n{\"a\": \n");
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().message.rfind("line 3: ", 0), 0u) << rows.error().message;
}

TEST(Mapping, PromptFlowReferences) {
  auto mapping = ColumnMapping::parse({"ground_truth=${data.answer}", "context=${data.doc.text}",
                                       "question=${run.inputs.q}", "style=terse",
                                       "answer=${run.outputs.answer}"});
  ASSERT_TRUE(mapping) << mapping.error().message;
  Json data = {{"answer", "4368"}, {"doc", {{"text", "ctx"}}}, {"question", "ignored"}};
  Json run_inputs = {{"q", "what?"}};
  Json run_outputs = {{"answer", "out"}};
  EXPECT_EQ(mapping->value("ground_truth", data, run_inputs, run_outputs), "4368");
  EXPECT_EQ(mapping->value("context", data, run_inputs, run_outputs), "ctx");
  EXPECT_EQ(mapping->value("question", data, run_inputs, run_outputs), "what?");
  EXPECT_EQ(mapping->value("style", data, run_inputs, run_outputs), "terse");
  EXPECT_EQ(mapping->value("answer", data, run_inputs, run_outputs), "out");
}

TEST(Mapping, DefaultsSameColumnButAnswerIsTheOutput) {
  auto mapping = ColumnMapping::parse({});
  ASSERT_TRUE(mapping);
  Json data = {{"question", "q"}, {"answer", "the data's answer"}};
  EXPECT_EQ(mapping->value("question", data, {}, {}), "q");
  EXPECT_EQ(mapping->value("answer", data, {}, {{"answer", "output"}}), "output");
  EXPECT_TRUE(mapping->value("context", data, {}, {}).is_null());
}

TEST(Mapping, Refusals) {
  for (std::vector<std::string> bad :
       std::vector<std::vector<std::string>>{{"noequals"},
                                             {"=x"},
                                             {"a=${data.x}", "a=${data.y}"},
                                             {"a=${inputs.x}"},
                                             {"a=${run.x}"},
                                             {"a=literal", "b=other"},
                                             {"a=${data..x}"}}) {
    EXPECT_FALSE(ColumnMapping::parse(bad)) << bad[0];
  }
  // "a ${data.x}" is a literal (only a whole value is a reference), so this is literals only.
  EXPECT_FALSE(ColumnMapping::parse({"a=a ${data.x}"}));
}

}  // namespace
}  // namespace keel::evals

// Prompt flow folders read and checked before they run: Prompt flow's own example flows from
// ../shared/promptflow/flows (skipped, saying so, when absent), and broken graphs whose errors
// must name the file, line and node.
#include "flows/flow.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace keel {
namespace {

namespace fs = std::filesystem;

const fs::path kFlows = fs::path(KEEL_SOURCE_DIR) / ".." / "shared" / "promptflow" / "flows";

std::vector<std::string> order_of(const Flow& flow) {
  std::vector<std::string> names;
  for (size_t index : flow.order) names.push_back(flow.nodes[index].name);
  return names;
}

class ExampleFlow : public testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFlows)) GTEST_SKIP() << "no example flows at " << kFlows;
  }
  Flow load(const std::string& name, FlowLoadOptions options = {}) {
    auto flow = load_flow((kFlows / name).string(), options);
    EXPECT_TRUE(flow) << flow.error().message;
    return flow ? std::move(*flow) : Flow{};
  }
};

TEST_F(ExampleFlow, EveryExampleChecks) {
  for (const char* name : {"basic", "basic-with-builtin-llm", "web-classification", "chat-basic",
                           "chat-math-variant", "eval-basic", "eval-classification-accuracy"}) {
    SCOPED_TRACE(name);
    Flow flow = load(name);
    EXPECT_EQ(flow.order.size(), flow.nodes.size());
  }
}

TEST_F(ExampleFlow, WebClassificationRunsInDependencyOrderWithItsDefaultVariant) {
  Flow flow = load("web-classification");
  EXPECT_EQ(order_of(flow),
            (std::vector<std::string>{"fetch_text_content_from_url", "summarize_text_content",
                                      "prepare_examples", "classify_with_llm", "convert_to_dict"}));
  const FlowNode* summarize = flow.find("summarize_text_content");
  ASSERT_NE(summarize, nullptr);
  EXPECT_EQ(summarize->variant, "variant_0");
  EXPECT_EQ(summarize->type, "llm");
  EXPECT_EQ(summarize->source_path, "summarize_text_content.jinja2");
  EXPECT_EQ(flow.variants["summarize_text_content"],
            (std::vector<std::string>{"variant_0", "variant_1"}));
  const FlowNode* classify = flow.find("classify_with_llm");
  ASSERT_NE(classify, nullptr);
  ASSERT_EQ(classify->inputs.size(), 7u);
  EXPECT_EQ(classify->inputs[5].first, "text_content");
  EXPECT_EQ(classify->inputs[5].second.kind, FlowValue::Kind::kNode);
  EXPECT_EQ(classify->inputs[5].second.name, "summarize_text_content");
  EXPECT_EQ(classify->inputs[0].second.kind, FlowValue::Kind::kLiteral);
  ASSERT_EQ(flow.outputs.size(), 2u);
  EXPECT_EQ(flow.outputs[0].reference.path, (std::vector<Json>{"category"}));

  FlowLoadOptions options;
  options.variants["summarize_text_content"] = "variant_1";
  Flow other = load("web-classification", options);
  EXPECT_EQ(other.find("summarize_text_content")->source_path,
            "summarize_text_content__variant_1.jinja2");
}

TEST_F(ExampleFlow, ChatAndAggregation) {
  EXPECT_TRUE(load("chat-basic").is_chat());
  EXPECT_FALSE(load("basic").is_chat());
  Flow eval = load("eval-classification-accuracy");
  const FlowNode* accuracy = eval.find("calculate_accuracy");
  ASSERT_NE(accuracy, nullptr);
  EXPECT_TRUE(accuracy->aggregation);
}

// ---- broken graphs -------------------------------------------------------------------------

std::string error_of(const std::string& yaml, bool check_files = false) {
  FlowLoadOptions options;
  options.check_files = check_files;
  auto flow = parse_flow(yaml, "/nonexistent-flow", "f/flow.dag.yaml", options);
  if (flow) return "(loaded)";
  EXPECT_EQ(flow.error().code, ErrorCode::kInvalidArgument);
  return flow.error().message;
}

const char* kHead =
    "inputs:\n"
    "  text: {type: string, default: hi}\n"
    "outputs:\n"
    "  out: {type: string, reference: '${b.output}'}\n"
    "nodes:\n";

TEST(FlowCheck, ACycleNamesItsNodes) {
  EXPECT_EQ(
      error_of(std::string(kHead) + "- {name: a, type: python, source: {type: code, path: a.py}, "
                                    "inputs: {x: '${b.output}'}}\n"
                                    "- {name: b, type: python, source: {type: code, path: b.py}, "
                                    "inputs: {x: '${a.output.k}'}}\n"),
      "f/flow.dag.yaml:6: node a: a cycle: a -> b -> a");
}

TEST(FlowCheck, UnknownReferencesTypesAndFiles) {
  const std::string b =
      "- {name: b, type: python, source: {type: code, path: b.py}, inputs: {x: "
      "'${inputs.text}'}}\n";
  EXPECT_EQ(error_of(std::string(kHead) + b +
                     "- {name: c, type: python, source: {type: code, path: c.py}, "
                     "inputs: {x: '${nope.output}'}}\n"),
            "f/flow.dag.yaml:7: node c: inputs.x: ${nope.output} names no node");
  EXPECT_EQ(
      error_of(std::string(kHead) + "- {name: b, type: python, source: {type: code, path: b.py}, "
                                    "inputs: {x: '${inputs.txt}'}}\n"),
      "f/flow.dag.yaml:6: node b: inputs.x: ${inputs.txt} names no flow input");
  EXPECT_EQ(
      error_of(std::string(kHead) + "- {name: b, type: sql, source: {type: code, path: b}}\n"),
      "f/flow.dag.yaml:6: node b: unknown node type 'sql' (expected python, prompt, llm, "
      "tool or flow)");
  EXPECT_EQ(error_of(std::string(kHead) + b, /*check_files=*/true),
            "f/flow.dag.yaml:6: node b: missing file b.py");
  EXPECT_EQ(error_of(std::string(kHead) + b + b), "f/flow.dag.yaml:7: node b: repeated node name");
  EXPECT_EQ(
      error_of(std::string(kHead) + "- {name: b, type: python, source: {type: code, path: b.py}, "
                                    "inputs: {x: '${b.outputs}'}}\n"),
      "f/flow.dag.yaml:6: node b: inputs.x: malformed reference ${b.outputs} (expected "
      "${NODE.output...})");
  EXPECT_EQ(error_of("inputs: {}\nnodes:\n- {name: b, use_variants: true}\n"),
            "f/flow.dag.yaml:3: node b: use_variants, but node_variants has no entry for it");
  EXPECT_EQ(error_of("inputs: {}\nnodes: []\nnode_variants:\n  b: {default_variant_id: v9, "
                     "variants: {v0: {node: {type: python}}}}\n"),
            "f/flow.dag.yaml:4: node_variants.b: no variant 'v9'");
}

TEST(FlowCheck, TimeoutRetriesAndToolNodes) {
  FlowLoadOptions options;
  options.check_files = false;
  auto flow =
      parse_flow(std::string(kHead) +
                     "- {name: b, type: python, source: {type: code, path: b.py},\n"
                     "   timeout: 1.5, retries: 2}\n"
                     "- {name: t, type: tool, source: {type: package, tool: web/http_fetch}}\n",
                 "/none", "f/flow.dag.yaml", options);
  ASSERT_TRUE(flow) << flow.error().message;
  EXPECT_EQ(flow->find("b")->timeout_ms, 1500);
  EXPECT_EQ(flow->find("b")->retries, 2);
  EXPECT_EQ(flow->find("t")->tool, "web/http_fetch");
  const std::string b = "- {name: b, type: python, source: {type: code, path: b.py}, ";
  EXPECT_EQ(error_of(std::string(kHead) + b + "timeout: soon}\n"),
            "f/flow.dag.yaml:6: node b: timeout must be a number of seconds (0 < timeout <= "
            "86400)");
  EXPECT_EQ(error_of(std::string(kHead) + b + "retries: -1}\n"),
            "f/flow.dag.yaml:6: node b: retries must be an integer from 0 to 10");
  EXPECT_EQ(error_of(std::string(kHead) + "- {name: b, type: tool, source: {type: package, "
                                          "tool: http_fetch}}\n"),
            "f/flow.dag.yaml:6: node b: a tool node needs source.tool: TOOLSET/TOOL (a "
            "configured toolset)");
}

TEST(FlowValue, References) {
  auto literal = parse_flow_value("a ${inputs.x}");
  ASSERT_TRUE(literal);
  EXPECT_EQ(literal->kind, FlowValue::Kind::kLiteral);
  auto input = parse_flow_value("${flow.x}");
  ASSERT_TRUE(input);
  EXPECT_EQ(input->kind, FlowValue::Kind::kInput);
  EXPECT_EQ(input->name, "x");
  auto node = parse_flow_value("${n.output['a'].b[0]}");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->kind, FlowValue::Kind::kNode);
  EXPECT_EQ(node->path, (std::vector<Json>{"a", "b", 0}));
  auto bare = parse_flow_value("${n}");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->name, "n");
  EXPECT_TRUE(bare->path.empty());
  EXPECT_FALSE(parse_flow_value("${n.output[x}"));
}

}  // namespace
}  // namespace keel

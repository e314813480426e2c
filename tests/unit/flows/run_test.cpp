// The flow executor (flows/run.h) on flows written here: nodes whose inputs are ready run at
// once, per-node timeouts and retries, a failing node or a cancelled run stops the others (and
// kills their python workers), tool nodes through a Toolbox, bypassing. Python nodes run in real
// python3 workers; llm nodes are covered end to end (tests/e2e/flows.test.mjs).
#include "flows/run.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "http/asio.h"
#include "tools/toolbox.h"

namespace keel {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

class FlowRun : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("keel-flow-run-" + std::to_string(getpid()) + "-" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // A node that sleeps `seconds`, writes its pid beside the flow, and answers `value`.
    write("sleep.py",
          "import os, time\n"
          "from promptflow import tool\n"
          "@tool\n"
          "def sleep(value, seconds: float = 0, name: str = 'x'):\n"
          "    open(name + '.pid', 'w').write(str(os.getpid()))\n"
          "    time.sleep(seconds)\n"
          "    return value\n");
    // Fails until it has been called `times` times (counted in a file).
    write("flaky.py",
          "from promptflow import tool\n"
          "@tool\n"
          "def flaky(times: int):\n"
          "    try:\n"
          "        count = int(open('count').read())\n"
          "    except FileNotFoundError:\n"
          "        count = 0\n"
          "    open('count', 'w').write(str(count + 1))\n"
          "    if count + 1 < times:\n"
          "        raise ValueError('not yet: call %d' % (count + 1))\n"
          "    return count + 1\n");
    write("fail.py",
          "from promptflow import tool\n"
          "@tool\n"
          "def fail(x):\n"
          "    raise RuntimeError('no good: ' + str(x))\n");
    write("join.py",
          "from promptflow import tool\n"
          "@tool\n"
          "def join(a, b=None):\n"
          "    return [a, b]\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  Flow flow(const std::string& yaml) {
    write("flow.dag.yaml", yaml);
    auto loaded = load_flow(dir_.string());
    EXPECT_TRUE(loaded) << loaded.error().message;
    return loaded ? std::move(*loaded) : Flow{};
  }

  // Runs `flow` on an io_context of its own; `cancel_after_ms` >= 0 cancels it then.
  Result<Json> run(const Flow& flow, const Json& inputs, FlowRunOptions options = {},
                   int cancel_after_ms = -1) {
    asio::io_context context;
    Router router(Config{}, {});
    Result<Json> result = Error(ErrorCode::kInternal, "not run");
    auto cancel = std::make_shared<CancelToken>();
    asio::steady_timer timer(context);
    if (cancel_after_ms >= 0) {
      timer.expires_after(milliseconds(cancel_after_ms));
      timer.async_wait([cancel](const boost::system::error_code& ec) {
        if (!ec) cancel->cancel(ErrorCode::kCancelled, "client disconnected");
      });
    }
    auto task = [&]() -> Task<void> {
      result = co_await run_flow(flow, inputs, router, options, cancel);
      timer.cancel();
    };
    asio::co_spawn(context, task(), asio::detached);
    context.run();
    return result;
  }

  bool alive(const std::string& pid_file) {
    std::ifstream in(dir_ / pid_file);
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 0) return false;
    return kill(pid, 0) == 0;
  }

  fs::path dir_;
};

const char* kTwoSleepers =
    "inputs: {x: {type: string, default: hi}}\n"
    "outputs: {out: {reference: '${joined.output}'}}\n"
    "nodes:\n"
    "- {name: left, type: python, source: {type: code, path: sleep.py},\n"
    "   inputs: {value: L, seconds: 0.6, name: left}}\n"
    "- {name: right, type: python, source: {type: code, path: sleep.py},\n"
    "   inputs: {value: '${inputs.x}', seconds: 0.6, name: right}}\n"
    "- {name: joined, type: python, source: {type: code, path: join.py},\n"
    "   inputs: {a: '${left.output}', b: '${right.output}'}}\n";

TEST_F(FlowRun, NodesWhoseInputsAreReadyRunAtOnce) {
  Flow f = flow(kTwoSleepers);
  std::vector<FlowNodeRecord> ended;
  FlowRunOptions options;
  options.on_node = [&](const FlowNodeRecord& record) {
    ended.push_back(record);
    EXPECT_EQ(record.attempts, 1);
    EXPECT_TRUE(record.error.empty()) << record.error;
  };
  auto result = run(f, Json{{"x", "R"}}, options);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ((*result)["outputs"]["out"], Json::array({"L", "R"}));
  ASSERT_EQ(ended.size(), 3u);
  EXPECT_EQ(ended.back().node, "joined");
  EXPECT_EQ(ended.back().inputs, (Json{{"a", "L"}, {"b", "R"}}));
  // The two sleepers overlapped: each started before the other ended.
  const FlowNodeRecord& one = ended[0];
  const FlowNodeRecord& two = ended[1];
  EXPECT_GE(one.duration_ms, 600);
  EXPECT_LT(one.start_unix_ms, two.start_unix_ms + two.duration_ms);
  EXPECT_LT(two.start_unix_ms, one.start_unix_ms + one.duration_ms);
  EXPECT_GE(ended.back().start_unix_ms, one.start_unix_ms + one.duration_ms);
}

TEST_F(FlowRun, ANodeTimesOutAfterItsTimeout) {
  Flow f = flow(
      "outputs: {out: {reference: '${slow.output}'}}\n"
      "nodes:\n"
      "- {name: slow, type: python, source: {type: code, path: sleep.py}, timeout: 0.4,\n"
      "   inputs: {value: 1, seconds: 30, name: slow}}\n");
  const auto start = steady_clock::now();
  auto result = run(f, Json::object());
  ASSERT_FALSE(result);
  EXPECT_LT(steady_clock::now() - start, milliseconds(5000));
  EXPECT_EQ(result.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_NE(result.error().message.find("flow.dag.yaml:3: node slow: timed out after 0.4 s"),
            std::string::npos)
      << result.error().message;
  EXPECT_FALSE(alive("slow.pid"));
}

TEST_F(FlowRun, RetriesUntilTheNodeSucceeds) {
  Flow f = flow(
      "outputs: {out: {reference: '${flaky.output}'}}\n"
      "nodes:\n"
      "- {name: flaky, type: python, source: {type: code, path: flaky.py}, retries: 2,\n"
      "   inputs: {times: 3}}\n");
  int attempts = 0;
  FlowRunOptions options;
  options.on_node = [&](const FlowNodeRecord& record) { attempts = record.attempts; };
  auto result = run(f, Json::object(), options);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ((*result)["outputs"]["out"], 3);
  EXPECT_EQ(attempts, 3);

  fs::remove(dir_ / "count");
  Flow fewer = flow(
      "outputs: {out: {reference: '${flaky.output}'}}\n"
      "nodes:\n"
      "- {name: flaky, type: python, source: {type: code, path: flaky.py}, retries: 1,\n"
      "   inputs: {times: 3}}\n");
  auto failed = run(fewer, Json::object());
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("node flaky: flaky.py raised:"), std::string::npos);
  EXPECT_NE(failed.error().message.find("ValueError: not yet: call 2"), std::string::npos)
      << failed.error().message;
}

TEST_F(FlowRun, AFailingNodeStopsTheOthers) {
  Flow f = flow(
      "inputs: {x: {type: string, default: hi}}\n"
      "outputs: {out: {reference: '${slow.output}'}}\n"
      "nodes:\n"
      "- {name: slow, type: python, source: {type: code, path: sleep.py},\n"
      "   inputs: {value: 1, seconds: 30, name: slow}}\n"
      "- {name: bad, type: python, source: {type: code, path: fail.py},\n"
      "   inputs: {x: '${inputs.x}'}}\n");
  const auto start = steady_clock::now();
  auto result = run(f, Json::object());
  ASSERT_FALSE(result);
  EXPECT_LT(steady_clock::now() - start, milliseconds(10000));
  EXPECT_NE(result.error().message.find("node bad: fail.py raised:"), std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find("RuntimeError: no good: hi"), std::string::npos);
  EXPECT_FALSE(alive("slow.pid"));
}

TEST_F(FlowRun, ACancelledRunKillsItsPythonWorkers) {
  Flow f = flow(
      "outputs: {out: {reference: '${slow.output}'}}\n"
      "nodes:\n"
      "- {name: slow, type: python, source: {type: code, path: sleep.py},\n"
      "   inputs: {value: 1, seconds: 30, name: slow}}\n");
  const auto start = steady_clock::now();
  auto result = run(f, Json::object(), {}, /*cancel_after_ms=*/800);
  ASSERT_FALSE(result);
  EXPECT_LT(steady_clock::now() - start, milliseconds(5000));
  EXPECT_EQ(result.error().code, ErrorCode::kCancelled);
  ASSERT_TRUE(fs::exists(dir_ / "slow.pid"));
  EXPECT_FALSE(alive("slow.pid"));
}

TEST_F(FlowRun, BypassedNodesAndActivate) {
  Flow f = flow(
      "inputs: {go: {type: bool, default: false}}\n"
      "outputs: {out: {reference: '${joined.output}'}, skipped: {reference: '${after.output}'}}\n"
      "nodes:\n"
      "- {name: maybe, type: python, source: {type: code, path: sleep.py},\n"
      "   activate: {when: '${inputs.go}', is: true}, inputs: {value: M}}\n"
      "- {name: after, type: python, source: {type: code, path: sleep.py},\n"
      "   inputs: {value: '${maybe.output}'}}\n"
      "- {name: other, type: python, source: {type: code, path: sleep.py},\n"
      "   inputs: {value: O}}\n"
      "- {name: joined, type: python, source: {type: code, path: join.py},\n"
      "   inputs: {a: '${other.output}', b: '${maybe.output}'}}\n");
  std::vector<std::string> bypassed;
  FlowRunOptions options;
  options.on_node = [&](const FlowNodeRecord& record) {
    if (record.bypassed) bypassed.push_back(record.node);
  };
  auto result = run(f, Json::object(), options);
  ASSERT_TRUE(result) << result.error().message;
  // `after` reads only a bypassed node: bypassed too; `joined` reads one that ran, and gets
  // its parameter's default for the bypassed one.
  EXPECT_EQ((*result)["outputs"], (Json{{"out", {"O", nullptr}}, {"skipped", nullptr}}));
  EXPECT_EQ(bypassed, (std::vector<std::string>{"maybe", "after"}));
  auto on = run(f, Json{{"go", true}});
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_EQ((*on)["outputs"], (Json{{"out", {"O", "M"}}, {"skipped", "M"}}));
}

// A toolset `calc` with the builtin calculator, as a flow's tool nodes name it.
Toolbox calculator_toolbox() {
  ToolsetConfig calc;
  calc.name = "calc";
  calc.kind = ToolsetKind::kBuiltin;
  calc.tools = {"calculator"};
  return Toolbox({calc});
}

TEST_F(FlowRun, ToolNodesCallAToolsetsTool) {
  Toolbox toolbox = calculator_toolbox();
  FlowRunOptions options;
  options.toolbox = &toolbox;
  Flow f = flow(
      "inputs: {expression: {type: string}}\n"
      "outputs: {out: {reference: '${sum.output}'}}\n"
      "nodes:\n"
      "- {name: sum, type: tool, source: {type: package, tool: calc/calculator},\n"
      "   inputs: {expression: '${inputs.expression}'}}\n");
  auto result = run(f, Json{{"expression", "(2 + 3) * 4"}}, options);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ((*result)["outputs"]["out"], 20);
  auto bad = run(f, Json{{"expression", "2 +"}}, options);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("flow.dag.yaml:4: node sum: calc/calculator: "),
            std::string::npos)
      << bad.error().message;
  auto none = run(f, Json{{"expression", "1"}});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("node sum: no toolsets here to run tool calc/calculator"),
            std::string::npos);
  Flow unknown = flow(
      "outputs: {out: {reference: '${sum.output}'}}\n"
      "nodes:\n"
      "- {name: sum, type: tool, source: {type: package, tool: calc/abacus}}\n");
  auto missing = run(unknown, Json::object(), options);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("node sum: toolset calc has no tool abacus"),
            std::string::npos)
      << missing.error().message;
}

// The attribute `key` of `span` as text ("" when it has none).
std::string attribute(const Span& span, std::string_view key) {
  const AttributeValue* value = span.find(key);
  if (value == nullptr) return "";
  if (const auto* text = std::get_if<std::string>(value)) return *text;
  if (const auto* number = std::get_if<int64_t>(value)) return std::to_string(*number);
  if (const auto* flag = std::get_if<bool>(value)) return *flag ? "true" : "false";
  return std::to_string(std::get<double>(*value));
}

const Span* span_named(const Trace& trace, const std::string& name) {
  for (const Span& span : trace.spans()) {
    if (span.name == name) return &span;
  }
  return nullptr;
}

TEST_F(FlowRun, EachNodeIsASpanUnderTheRunsSpan) {
  Toolbox toolbox = calculator_toolbox();
  Flow f = flow(
      "inputs: {go: {type: bool, default: false}}\n"
      "outputs: {out: {reference: '${joined.output}'}}\n"
      "nodes:\n"
      "- {name: left, type: python, source: {type: code, path: sleep.py}, inputs: {value: L}}\n"
      "- {name: maybe, type: python, source: {type: code, path: sleep.py},\n"
      "   activate: {when: '${inputs.go}', is: true}, inputs: {value: M}}\n"
      "- {name: sum, type: tool, source: {type: package, tool: calc/calculator},\n"
      "   inputs: {expression: '6 * 7'}}\n"
      "- {name: joined, type: python, source: {type: code, path: join.py},\n"
      "   inputs: {a: '${left.output}', b: '${sum.output}'}}\n");
  Trace trace(TraceId::random(), SpanId::random());
  FlowRunOptions options;
  options.toolbox = &toolbox;
  options.trace = trace.root_context();
  options.name = "spans";
  auto result = run(f, Json::object(), options);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ((*result)["outputs"]["out"], (Json{"L", 42}));

  // invoke_workflow under the given parent; a span per node under it; the tool node's
  // execute_tool span under the node's.
  ASSERT_EQ(trace.spans().size(), 6u);
  const Span* run_span = span_named(trace, "invoke_workflow spans");
  ASSERT_NE(run_span, nullptr);
  EXPECT_EQ(run_span->parent_id, trace.root());
  EXPECT_EQ(run_span->status, SpanStatus::kOk);
  EXPECT_EQ(attribute(*run_span, gen_ai::kOperationName), "invoke_workflow");
  EXPECT_EQ(attribute(*run_span, keel_attr::kFlowName), "spans");
  for (const char* name : {"left", "maybe", "sum", "joined"}) {
    const Span* node = span_named(trace, std::string("flow_node ") + name);
    ASSERT_NE(node, nullptr) << name;
    EXPECT_EQ(node->parent_id, run_span->span_id) << name;
    EXPECT_EQ(attribute(*node, keel_attr::kFlowNode), name);
    EXPECT_GE(node->start_ns, run_span->start_ns);
    EXPECT_LE(node->end_ns, run_span->end_ns);
    // Without trace_content no inputs or output.
    EXPECT_EQ(node->find(keel_attr::kInputs), nullptr);
    EXPECT_EQ(node->find(keel_attr::kOutput), nullptr);
  }
  const Span* left = span_named(trace, "flow_node left");
  EXPECT_EQ(attribute(*left, keel_attr::kNodeType), "python");
  EXPECT_EQ(attribute(*left, keel_attr::kNodeAttempts), "1");
  EXPECT_EQ(left->status, SpanStatus::kOk);
  EXPECT_EQ(attribute(*span_named(trace, "flow_node maybe"), keel_attr::kNodeBypassed), "true");
  const Span* sum = span_named(trace, "flow_node sum");
  EXPECT_EQ(attribute(*sum, gen_ai::kToolName), "calc/calculator");
  const Span* tool = span_named(trace, "execute_tool calculator");
  ASSERT_NE(tool, nullptr);
  EXPECT_EQ(tool->parent_id, sum->span_id);

  // With trace_content the node's inputs and output, as JSON text; a failure is the span's
  // error.
  Trace content(TraceId::random(), SpanId::random());
  options.trace = content.root_context();
  options.trace_content = true;
  ASSERT_TRUE(run(f, Json::object(), options));
  const Span* joined = span_named(content, "flow_node joined");
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(attribute(*joined, keel_attr::kInputs), R"({"a":"L","b":42})");
  EXPECT_EQ(attribute(*joined, keel_attr::kOutput), R"(["L",42])");
  Flow failing = flow(
      "outputs: {out: {reference: '${bad.output}'}}\n"
      "nodes:\n"
      "- {name: bad, type: python, source: {type: code, path: fail.py}, inputs: {x: 1}}\n");
  Trace failed(TraceId::random(), SpanId::random());
  options.trace = failed.root_context();
  ASSERT_FALSE(run(failing, Json::object(), options));
  const Span* bad = span_named(failed, "flow_node bad");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->status, SpanStatus::kError);
  EXPECT_NE(bad->status_message.find("node bad: fail.py raised"), std::string::npos)
      << bad->status_message;
  EXPECT_EQ(bad->status_message.find('\n'), std::string::npos);
  EXPECT_EQ(span_named(failed, "invoke_workflow spans")->status, SpanStatus::kError);
}

TEST_F(FlowRun, ASingleRunGivesAggregationNodesListsOfOne) {
  write("agg.py",
        "from promptflow.core import log_metric, tool\n"
        "@tool\n"
        "def agg(values, xs):\n"
        "    log_metric('count', len(values))\n"
        "    return [values, xs]\n");
  Flow f = flow(
      "inputs: {x: {type: string, default: hi}}\n"
      "outputs: {out: {reference: '${left.output}'}}\n"
      "nodes:\n"
      "- {name: left, type: python, source: {type: code, path: sleep.py}, inputs: {value: L}}\n"
      "- {name: total, type: python, source: {type: code, path: agg.py}, aggregation: true,\n"
      "   inputs: {values: '${left.output}', xs: '${inputs.x}'}}\n");
  std::vector<std::string> ended;
  FlowRunOptions options;
  options.on_node = [&](const FlowNodeRecord& record) { ended.push_back(record.node); };
  auto result = run(f, Json::object(), options);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ((*result)["outputs"], (Json{{"out", "L"}}));
  EXPECT_EQ((*result)["metrics"], (Json{{"count", 1}}));
  EXPECT_EQ((*result)["nodes"]["total"], (Json{{"L"}, {"hi"}}));
  EXPECT_EQ(ended, (std::vector<std::string>{"left", "total"}));
  // A flow without aggregation nodes has no "metrics".
  auto plain = run(flow(kTwoSleepers), Json::object());
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_FALSE(plain->contains("metrics"));
}

TEST(FlowSpanContent, IsCutAtAUtf8Boundary) {
  EXPECT_EQ(span_content(Json{{"a", 1}}), R"({"a":1})");
  // "é" is two bytes: a cut at 4 bytes of "\"éé\"" falls inside the second one.
  EXPECT_EQ(span_content(Json("\xc3\xa9\xc3\xa9"), 4), "\"\xc3\xa9...");
  EXPECT_EQ(span_content(Json(std::string(10000, 'x'))).size(), kSpanContentBytes + 3);
}

TEST(FlowStreamTarget, TheLlmNodeAFlowOutputNames) {
  FlowLoadOptions unchecked;
  unchecked.check_files = false;
  auto flow = parse_flow(
      "inputs: {q: {type: string, is_chat_input: true}}\n"
      "outputs:\n"
      "  parsed: {reference: '${extract.output}'}\n"
      "  answer: {reference: '${chat.output}', is_chat_output: true}\n"
      "nodes:\n"
      "- {name: chat, type: llm, source: {type: code, path: c.jinja2}, inputs: {q: "
      "'${inputs.q}'}}\n"
      "- {name: extract, type: python, source: {type: code, path: e.py},\n"
      "   inputs: {x: '${chat.output}'}}\n",
      "/none", "f/flow.dag.yaml", unchecked);
  ASSERT_TRUE(flow) << flow.error().message;
  auto target = stream_target(*flow);
  ASSERT_TRUE(target);
  EXPECT_EQ(target->node, "chat");
  EXPECT_EQ(target->output, "answer");
  auto none = parse_flow(
      "outputs: {x: {reference: '${chat.output.field}'}}\n"
      "nodes:\n"
      "- {name: chat, type: llm, source: {type: code, path: c.jinja2}}\n",
      "/none", "f/flow.dag.yaml", unchecked);
  ASSERT_TRUE(none);
  EXPECT_FALSE(stream_target(*none));
}

}  // namespace
}  // namespace keel

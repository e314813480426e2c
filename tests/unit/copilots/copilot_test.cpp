// A copilot's turn (src/copilots/): instructions, retrieval and numbered sources in the prompt,
// citations parsed from the answer's markers, the tool loop with tools that need approval.
// The model is a scripted Provider double behind a real Router; the knowledge base is a small
// in-test KnowledgeBase (the seam of knowledge/knowledge.h) that returns fixed passages.
#include "copilots/copilot.h"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>

#include "../http/test_server.h"
#include "copilots/citations.h"
#include "tools/loop.h"

namespace keel::copilots {
namespace {

// Plays one scripted answer per call and records what each call was asked.
class ScriptedModel final : public Provider {
 public:
  std::deque<std::vector<ChatEvent>> answers;
  std::vector<ChatRequest> requests;

  const std::string& name() const override { return name_; }
  ProviderKind kind() const override { return ProviderKind::kOpenAI; }
  Capabilities capabilities() const override { return Capabilities{.streaming = true}; }
  Task<void> chat(const ChatRequest& request, const std::string&, EventSink& sink,
                  CancelPtr) override {
    requests.push_back(request);
    std::vector<ChatEvent> events = std::move(answers.front());
    answers.pop_front();
    co_await sink.on_events(events);
  }
  Task<Result<Embeddings>> embed(const EmbedRequest&, const std::string&, CancelPtr) override {
    co_return Error(ErrorCode::kUnavailable, "no embeddings");
  }
  Task<Result<int64_t>> count_tokens(const ChatRequest&, const std::string&, CancelPtr) override {
    co_return Error(ErrorCode::kInvalidArgument, "no counting");
  }

 private:
  std::string name_ = "up";
};

ContentPart text_part(std::string text) {
  ContentPart part;
  part.text = std::move(text);
  return part;
}

std::vector<ChatEvent> text_answer(std::vector<std::string> deltas) {
  std::vector<ChatEvent> events{ChatEvent::start("a", "up")};
  for (auto& delta : deltas) events.push_back(ChatEvent::text_delta(std::move(delta)));
  events.push_back(ChatEvent::finished(FinishReason::kStop));
  return events;
}

std::vector<ChatEvent> tool_call(const std::string& name, const std::string& arguments) {
  return {ChatEvent::start("b", "up"), ChatEvent::tool_call_start(0, "call_1", name),
          ChatEvent::tool_args_delta(0, arguments), ChatEvent::finished(FinishReason::kToolCalls)};
}

class FixedKnowledge final : public knowledge::KnowledgeBase {
 public:
  std::vector<knowledge::Passage> passages;
  std::vector<std::string> queries;
  std::optional<Error> failure;

  const std::string& name() const override { return name_; }
  Task<Result<std::vector<knowledge::Passage>>> search(std::string query,
                                                       knowledge::SearchOptions options,
                                                       CancelPtr) override {
    queries.push_back(query);
    if (failure) co_return *failure;
    std::vector<knowledge::Passage> found = passages;
    if (found.size() > static_cast<size_t>(options.k)) found.resize(options.k);
    co_return found;
  }

 private:
  std::string name_ = "handbook";
};

knowledge::Passage passage(std::string source, std::string chunk, std::string text, double score) {
  knowledge::Passage p;
  p.knowledge = "handbook";
  p.source = std::move(source);
  p.chunk_id = std::move(chunk);
  p.start = 100;
  p.end = 100 + static_cast<int64_t>(text.size());
  p.heading = "Setup";
  p.text = std::move(text);
  p.score = score;
  return p;
}

class Recording final : public EventSink {
 public:
  std::vector<ChatEvent> events;
  Task<bool> on_event(ChatEvent event) override {
    events.push_back(std::move(event));
    co_return true;
  }
  std::string text() const {
    std::string out;
    for (const auto& e : events)
      if (e.kind == ChatEvent::Kind::kTextDelta) out += e.text;
    return out;
  }
  std::vector<Citation> citations() const {
    std::vector<Citation> out;
    for (const auto& e : events)
      if (e.kind == ChatEvent::Kind::kCitation) out.push_back(*e.citation);
    return out;
  }
};

class CopilotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.source = "<test>";
    ProviderConfig provider;
    provider.name = "up";
    config_.providers.push_back(provider);
    ModelConfig model;
    model.name = "smart";
    TargetConfig target;
    target.provider = "up";
    target.model = "gpt";
    model.targets.push_back(target);
    config_.models.push_back(model);
    ToolsetConfig calc;
    calc.name = "calc";
    calc.kind = ToolsetKind::kBuiltin;
    calc.tools = {"calculator", "current_time"};
    config_.toolsets.push_back(calc);
    CopilotConfig copilot;
    copilot.name = "helpdesk";
    copilot.model = "smart";
    copilot.instructions = "You are the helpdesk.";
    copilot.knowledge = {"handbook"};
    config_.copilots.push_back(copilot);
    kb_.passages = {passage("docs/vpn.md", "vpn-0", "Connect with the VPN client.", 0.9),
                    passage("docs/mail.md", "mail-3", "Mail lives on the mail server.", 0.5)};
  }

  static ChatRequest question_for(const std::string& question) {
    ChatRequest request;
    request.model = "helpdesk";
    Message user;
    user.role = Role::kUser;
    user.content.push_back(text_part(question));
    request.messages.push_back(user);
    return request;
  }

  // Loads the config's copilots, then answers `request` with `helpdesk`.
  ChatOutcome ask(const ChatRequest& request, Recording& sink) {
    auto set = CopilotSet::load(
        config_, [this](const std::string& name) { return name == "handbook" ? &kb_ : nullptr; });
    EXPECT_TRUE(set) << set.error().message;
    set_ = *set;
    std::map<std::string, std::unique_ptr<Provider>> providers;
    auto owned = std::make_unique<ScriptedModel>();
    model_ = owned.get();
    model_->answers = std::move(script_);
    providers.emplace("up", std::move(owned));
    router_ = std::make_unique<Router>(config_, std::move(providers));
    toolbox_ = std::make_unique<Toolbox>(config_.toolsets);
    const Copilot* copilot = set_->find("helpdesk");
    return testkit::run_until_done(io_, copilot->answer(*router_, toolbox_.get(), request, sink,
                                                        std::make_shared<CancelToken>()));
  }
  ChatOutcome ask(const std::string& question, Recording& sink) {
    return ask(question_for(question), sink);
  }

  asio::io_context io_;
  Config config_;
  FixedKnowledge kb_;
  std::deque<std::vector<ChatEvent>> script_;
  std::shared_ptr<const CopilotSet> set_;
  ScriptedModel* model_ = nullptr;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Toolbox> toolbox_;
};

TEST(MarkerScannerTest, FindsMarkersAcrossDeltasAndDropsUnknownOnes) {
  MarkerScanner scanner(2);
  std::vector<MarkerScanner::Marker> markers;
  std::string out = scanner.feed("Use the VPN [", markers);
  EXPECT_EQ(out, "Use the VPN ");
  EXPECT_TRUE(markers.empty());
  out = scanner.feed("1]. Not [7] or [0], see [2][x] [", markers);
  EXPECT_EQ(out, "[1]. Not  or , see [2][x] ");  // the held "[" goes out with its marker
  ASSERT_EQ(markers.size(), 2u);
  EXPECT_EQ(markers[0].number, 1);
  EXPECT_EQ(markers[0].text_start, 12);
  EXPECT_EQ(markers[0].text_end, 15);
  EXPECT_EQ(markers[1].number, 2);
  EXPECT_EQ(out.substr(0, markers[1].after).substr(markers[1].after - 3), "[2]");
  EXPECT_EQ(scanner.flush(), "[");
}

TEST(MarkerScannerTest, CountsCodePointsNotBytes) {
  MarkerScanner scanner(1);
  std::vector<MarkerScanner::Marker> markers;
  scanner.feed("Grüße [1]", markers);
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_EQ(markers[0].text_start, 6);
  EXPECT_EQ(markers[0].text_end, 9);
}

TEST_F(CopilotTest, PutsInstructionsAndNumberedSourcesInThePromptAndCitesRetrievedChunks) {
  script_.push_back(text_answer({"Use the VPN client [", "1]. Mail: see [2", "]; not [5]."}));
  Recording sink;
  ChatOutcome outcome = ask("How do I connect?", sink);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error().message;
  ASSERT_EQ(kb_.queries, std::vector<std::string>{"How do I connect?"});
  const ChatRequest& sent = model_->requests.at(0);
  EXPECT_EQ(sent.model, "smart");
  ASSERT_EQ(sent.messages.size(), 3u);
  EXPECT_EQ(sent.messages[0].role, Role::kSystem);
  EXPECT_EQ(sent.messages[0].text(), "You are the helpdesk.");
  EXPECT_NE(sent.messages[1].text().find("[1] docs/vpn.md > Setup\nConnect with the VPN client."),
            std::string::npos);
  EXPECT_NE(sent.messages[1].text().find("[2] docs/mail.md > Setup"), std::string::npos);
  EXPECT_EQ(sent.messages[2].text(), "How do I connect?");

  EXPECT_EQ(sink.text(), "Use the VPN client [1]. Mail: see [2]; not .");
  const auto citations = sink.citations();
  ASSERT_EQ(citations.size(), 2u);
  EXPECT_EQ(citations[0].number, 1);
  EXPECT_EQ(citations[0].source, "docs/vpn.md");
  EXPECT_EQ(citations[0].chunk_id, "vpn-0");
  EXPECT_EQ(citations[0].knowledge, "handbook");
  EXPECT_EQ(citations[0].source_start, 100);
  EXPECT_EQ(citations[0].cited_text, "Connect with the VPN client.");
  EXPECT_EQ(
      sink.text().substr(citations[0].text_start, citations[0].text_end - citations[0].text_start),
      "[1]");
  EXPECT_EQ(citations[1].chunk_id, "mail-3");
  EXPECT_EQ(sink.text().substr(citations[1].text_start, 3), "[2]");
  // Each citation follows the text that completes its marker; the answer still ends normally.
  EXPECT_EQ(sink.events.back().kind, ChatEvent::Kind::kFinish);
}

TEST_F(CopilotTest, TopKBoundsThePassagesOverAllBases) {
  config_.copilots[0].top_k = 1;
  script_.push_back(text_answer({"See [1] and [2]."}));
  Recording sink;
  ASSERT_TRUE(ask("mail?", sink).status.ok());
  EXPECT_EQ(model_->requests[0].messages[1].text().find("[2]"), std::string::npos);
  EXPECT_EQ(sink.text(), "See [1] and .");
  ASSERT_EQ(sink.citations().size(), 1u);
  EXPECT_EQ(sink.citations()[0].source, "docs/vpn.md");  // the higher score
}

TEST_F(CopilotTest, AKnowledgeBaseThatFailsIsAnErrorNamingIt) {
  kb_.failure = Error(ErrorCode::kUnavailable, "embedding model down");
  Recording sink;
  ChatOutcome outcome = ask("hi", sink);
  ASSERT_FALSE(outcome.status.ok());
  EXPECT_EQ(outcome.status.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(outcome.status.error().message.find("knowledge base handbook: embedding model down"),
            std::string::npos);
  EXPECT_TRUE(sink.events.empty());
}

TEST_F(CopilotTest, RunsItsToolsInTheLoop) {
  config_.copilots[0].tools = {"calc"};
  config_.copilots[0].knowledge.clear();
  script_.push_back(tool_call("calculator", R"({"expression":"6*7"})"));
  script_.push_back(text_answer({"42"}));
  Recording sink;
  ASSERT_TRUE(ask("6 times 7?", sink).status.ok());
  ASSERT_EQ(model_->requests.size(), 2u);
  const auto& second = model_->requests[1].messages;
  ASSERT_GE(second.size(), 2u);
  EXPECT_EQ(second.back().role, Role::kTool);
  EXPECT_EQ(second.back().text(), "42");
  EXPECT_EQ(sink.text(), "42");
}

TEST_F(CopilotTest, AToolThatNeedsApprovalGoesBackToTheClient) {
  config_.copilots[0].tools = {"calc"};
  config_.copilots[0].knowledge.clear();
  config_.copilots[0].approval = {"calc/calculator"};
  script_.push_back(tool_call("calculator", R"({"expression":"6*7"})"));
  Recording sink;
  ASSERT_TRUE(ask("6 times 7?", sink).status.ok());
  EXPECT_EQ(model_->requests.size(), 1u);  // keel ran nothing and asked nothing more
  // Both tools were offered; the call reached the client with finish reason tool_calls.
  EXPECT_EQ(model_->requests[0].tools.size(), 2u);
  bool call_seen = false;
  for (const auto& event : sink.events) {
    if (event.kind == ChatEvent::Kind::kToolCallStart) {
      call_seen = true;
      EXPECT_EQ(event.tool_name, "calculator");
      EXPECT_EQ(event.tool_id, "call_1");
    }
    if (event.kind == ChatEvent::Kind::kFinish) {
      EXPECT_EQ(event.finish, FinishReason::kToolCalls);
    }
  }
  EXPECT_TRUE(call_seen);
}

TEST_F(CopilotTest, TheClientsResultOfAnApprovedCallGoesToTheModel) {
  config_.copilots[0].tools = {"calc"};
  config_.copilots[0].knowledge.clear();
  config_.copilots[0].approval = {"calculator"};
  script_.push_back(text_answer({"It is 42."}));
  // The next request carries the call and the client's result; keel runs nothing for it.
  ChatRequest request = question_for("6 times 7?");
  Message assistant;
  assistant.role = Role::kAssistant;
  assistant.tool_calls.push_back({"call_1", "calculator", R"({"expression":"6*7"})"});
  Message result;
  result.role = Role::kTool;
  result.tool_call_id = "call_1";
  result.content.push_back(text_part("approved: 42"));
  request.messages.push_back(assistant);
  request.messages.push_back(result);
  Recording second;
  ChatOutcome outcome = ask(request, second);
  ASSERT_TRUE(outcome.status.ok());
  ASSERT_EQ(model_->requests.size(), 1u);
  EXPECT_EQ(model_->requests[0].messages.back().text(), "approved: 42");
  EXPECT_EQ(second.text(), "It is 42.");
}

TEST_F(CopilotTest, AnUnknownKnowledgeBaseIsALoadError) {
  config_.copilots[0].knowledge = {"wiki"};
  auto set = CopilotSet::load(
      config_, [](const std::string&) -> knowledge::KnowledgeBase* { return nullptr; });
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find("copilot helpdesk: no knowledge base named \"wiki\""),
            std::string::npos);
}

TEST(CopilotSetTest, RendersPromptyInstructions) {
  const auto dir = std::filesystem::temp_directory_path() / "keel_copilot_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "helpdesk.prompty") << "---\nname: helpdesk\ninputs:\n  company:\n"
                                             "    type: string\n    default: ACME\n---\n"
                                             "system:\nYou answer for {{ company }}.\n";
  Config config;
  config.source = (dir / "keel.yaml").string();
  CopilotConfig copilot;
  copilot.name = "helpdesk";
  copilot.model = "smart";
  copilot.instructions_file = "helpdesk.prompty";
  config.copilots.push_back(copilot);
  auto set = CopilotSet::load(config, nullptr);
#ifdef KEEL_HAS_LLAMA
  ASSERT_TRUE(set) << set.error().message;
  const auto& messages = (*set)->find("helpdesk")->instructions();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].role, Role::kSystem);
  EXPECT_EQ(messages[0].text(), "You answer for ACME.");
#else
  ASSERT_FALSE(set);  // no Jinja engine: prompty files are refused, saying so
#endif
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel::copilots

// Stored Responses state in SQLite (store/sqlite/sqlite_state.h, through SqliteStore): owners,
// read-after-write across connections, conversations and their items, retention.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/sqlite/sqlite_store.h"

namespace keel {
namespace {

namespace fs = std::filesystem;

StoredResponse response(std::string id, std::string owner, std::string previous = {}) {
  StoredResponse stored;
  stored.id = std::move(id);
  stored.owner = std::move(owner);
  stored.created_ms = unix_millis();
  stored.previous_id = std::move(previous);
  stored.input_items = R"([{"id":"msg_1","type":"message"}])";
  stored.body = R"({"id":"x","output":[]})";
  return stored;
}

class StateTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      path_ = fs::temp_directory_path() / ("keel-state-" + std::to_string(::getpid()) + ".db");
      fs::remove(path_);
    }
    auto opened = SqliteStore::open(GetParam() ? path_.string() : ":memory:");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
  }
  void TearDown() override {
    store_.reset();
    if (GetParam()) {
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_.string() + suffix);
    }
  }
  fs::path path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_P(StateTest, ResponsesAreReadAfterWriteAndOwned) {
  ASSERT_TRUE(store_->put_response(response("resp_1", "alice")).ok());
  // Another thread sees it at once (no queue in between).
  std::optional<StoredResponse> seen;
  std::thread([&] { seen = *store_->get_response("resp_1", "alice"); }).join();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->input_items, R"([{"id":"msg_1","type":"message"}])");
  EXPECT_FALSE(store_->get_response("resp_1", "bob")->has_value());
  EXPECT_FALSE(*store_->delete_response("resp_1", "bob"));
  ASSERT_TRUE(store_->put_response(response("resp_2", "alice", "resp_1")).ok());
  EXPECT_EQ((*store_->get_response("resp_2", "alice"))->previous_id, "resp_1");
  EXPECT_TRUE(*store_->delete_response("resp_1", "alice"));
  EXPECT_FALSE(store_->get_response("resp_1", "alice")->has_value());
  EXPECT_FALSE(*store_->delete_response("resp_1", "alice"));
}

TEST_P(StateTest, ConversationsKeepItemsInOrder) {
  StoredConversation conversation{"conv_1", "alice", unix_millis(), R"({"a":"1"})"};
  ASSERT_TRUE(store_->put_conversation(conversation).ok());
  // Another owner cannot take the id over.
  ASSERT_TRUE(store_->put_conversation({"conv_1", "bob", unix_millis(), "{}"}).ok());
  EXPECT_FALSE(store_->get_conversation("conv_1", "bob")->has_value());
  EXPECT_EQ((*store_->get_conversation("conv_1", "alice"))->metadata, R"({"a":"1"})");

  ASSERT_TRUE(store_->append_conversation_items("conv_1", {{"i1", "{}"}, {"i2", "{}"}}).ok());
  ASSERT_TRUE(store_->append_conversation_items("conv_1", {{"i3", "{}"}}).ok());
  auto items = store_->conversation_items("conv_1");
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 3u);
  EXPECT_EQ((*items)[0].id, "i1");
  EXPECT_EQ((*items)[2].id, "i3");
  EXPECT_TRUE(*store_->delete_conversation_item("conv_1", "i2"));
  EXPECT_FALSE(*store_->delete_conversation_item("conv_1", "i2"));
  EXPECT_EQ(store_->conversation_items("conv_1")->size(), 2u);

  conversation.metadata = R"({"a":"2"})";
  ASSERT_TRUE(store_->put_conversation(conversation).ok());
  EXPECT_EQ((*store_->get_conversation("conv_1", "alice"))->metadata, R"({"a":"2"})");
  EXPECT_FALSE(*store_->delete_conversation("conv_1", "bob"));
  EXPECT_TRUE(*store_->delete_conversation("conv_1", "alice"));
  EXPECT_FALSE(store_->get_conversation("conv_1", "alice")->has_value());
  EXPECT_TRUE(store_->conversation_items("conv_1")->empty());
}

INSTANTIATE_TEST_SUITE_P(FileAndMemory, StateTest, ::testing::Values(true, false));

TEST(StateRetention, ExpiredStateIsGone) {
  RetentionOptions retention;
  retention.max_age_ms = 60'000;
  auto state = SqliteState::open(":memory:", retention);
  ASSERT_TRUE(state.ok());
  StoredResponse old = response("resp_old", "alice");
  old.created_ms = unix_millis() - 120'000;
  ASSERT_TRUE((*state)->put_response(old).ok());
  ASSERT_TRUE((*state)->put_response(response("resp_new", "alice")).ok());
  // Past its age it is not found even before a pruning pass deletes it.
  EXPECT_FALSE((*state)->get_response("resp_old", "alice")->has_value());
  auto pruned = (*state)->prune(unix_millis());
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 1);
  EXPECT_TRUE((*state)->get_response("resp_new", "alice")->has_value());
}

}  // namespace
}  // namespace keel

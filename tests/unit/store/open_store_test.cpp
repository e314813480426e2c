#include <gtest/gtest.h>

#include <string>

#include "store/store.h"

namespace keel {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(OpenStore, SqliteMemoryOpensAndWorks) {
  auto store = open_store("sqlite::memory:");
  ASSERT_TRUE(store.ok()) << store.error().message;
  RequestRecord record;
  record.id = "one";
  (*store)->record(record);
  (*store)->flush();
  auto recent = (*store)->recent(1);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ(recent->front().id, "one");
}

TEST(OpenStore, SqliteNeedsAPath) {
  auto store = open_store("sqlite:");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(store.error().message, "path")) << store.error().message;
}

TEST(OpenStore, ScaleOutSchemesAreNotSupportedYet) {
  for (const std::string scheme : {"redis", "postgres"}) {
    auto store = open_store(scheme + "://keel:s3cret@db.internal:1234/keel");
    ASSERT_FALSE(store.ok()) << scheme;
    EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
    const std::string& message = store.error().message;
    EXPECT_TRUE(contains(message, scheme)) << message;
    EXPECT_TRUE(contains(message, "not supported yet")) << message;
    EXPECT_FALSE(contains(message, "s3cret")) << message;
  }
}

TEST(OpenStore, UnknownSchemesAreNamed) {
  auto store = open_store("mysql://localhost/keel");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(store.error().message, "'mysql'")) << store.error().message;
}

TEST(OpenStore, SpecsWithoutSchemeAreRejected) {
  for (const std::string spec : {"", "keel.db", ":memory:"}) {
    auto store = open_store(spec);
    ASSERT_FALSE(store.ok()) << spec;
    EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument) << spec;
    EXPECT_TRUE(contains(store.error().message, "sqlite:PATH")) << store.error().message;
  }
}

}  // namespace
}  // namespace keel

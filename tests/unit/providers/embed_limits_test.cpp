// The per-input limits of vendors' embedding models (Provider::count_embed_tokens's default), as
// the vendors document them: a knowledge base cuts its chunks to fit them
// (knowledge/embed_chunks.h).
#include <gtest/gtest.h>

#include "providers/provider.h"

namespace keel {
namespace {

TEST(KnownEmbedInputLimit, AsTheVendorsDocumentThem) {
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kOpenAI, "text-embedding-3-small"), 8192);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kOpenAI, "text-embedding-ada-002"), 8192);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kAzure, "text-embedding-3-large"), 8192);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kGemini, "gemini-embedding-001"), 2048);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kGemini, "models/text-embedding-004"), 2048);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kGemini, "embedding-001"), 2048);
}

TEST(KnownEmbedInputLimit, UnknownModelsHaveNone) {
  // An OpenAI-compatible server may serve any model under any name: keel does not guess.
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kOpenAI, "bge-small-en"), 0);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kAzure, "my-deployment"), 0);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kGemini, "gemini-2.5-flash"), 0);
  EXPECT_EQ(known_embed_input_limit(ProviderKind::kAnthropic, "text-embedding-3-small"), 0);
}

}  // namespace
}  // namespace keel

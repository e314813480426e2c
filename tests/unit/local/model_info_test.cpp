// read_model_info / list_model_files on a real model (../shared/models/stories260K.gguf, skipped
// when absent), on GGUF files written here with ggml's gguf writer, and on broken files: not
// GGUF, empty, truncated in the header, truncated in the tensor data, wrongly typed keys.
#include <ggml.h>
#include <gguf.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "providers/local/model_info.h"

namespace keel::local {
namespace {

namespace fs = std::filesystem;

const fs::path kStories = fs::path(KEEL_SOURCE_DIR) / ".." / "shared" / "models" / "stories260K.gguf";

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// A small GGUF with two tensors (a Q8_0 matrix holding most bytes, an F32 vector) and whatever
// general.* keys `setup` adds.
template <typename Setup>
void write_gguf(const fs::path& path, Setup setup) {
  ggml_init_params params{};
  params.mem_size = 1 << 20;
  params.no_alloc = false;
  ggml_context* tensors = ggml_init(params);
  ggml_tensor* matrix = ggml_new_tensor_2d(tensors, GGML_TYPE_Q8_0, 64, 8);
  ggml_set_name(matrix, "blk.0.attn_q.weight");
  ggml_tensor* vector = ggml_new_tensor_1d(tensors, GGML_TYPE_F32, 16);
  ggml_set_name(vector, "output_norm.weight");
  std::memset(matrix->data, 0, ggml_nbytes(matrix));
  std::memset(vector->data, 0, ggml_nbytes(vector));
  gguf_context* gguf = gguf_init_empty();
  setup(gguf);
  gguf_add_tensor(gguf, matrix);
  gguf_add_tensor(gguf, vector);
  ASSERT_TRUE(gguf_write_to_file(gguf, path.c_str(), false));
  gguf_free(gguf);
  ggml_free(tensors);
}

class ModelInfoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("keel-model-info-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ModelInfoTest, RealModel) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no " << kStories << " (see ../shared/models/README.md)";
  auto info = read_model_info(kStories);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->architecture, "llama");
  EXPECT_EQ(info->file_size, fs::file_size(kStories));
  EXPECT_EQ(info->gguf_version, 3u);
  EXPECT_GT(info->tensors, 0u);
  // A 260K-parameter model, by its README; F32 weights take 4 bytes each, all inside the file.
  EXPECT_GT(info->parameters, 200000u);
  EXPECT_LT(info->parameters, 320000u);
  EXPECT_EQ(info->quantization, "F32");
  EXPECT_LE(info->parameters * 4, info->file_size);
}

TEST_F(ModelInfoTest, WrittenModelWithSizeLabelAndQuantization) {
  fs::path path = dir_ / "tiny.gguf";
  write_gguf(path, [](gguf_context* gguf) {
    gguf_set_val_str(gguf, "general.architecture", "qwen3");
    gguf_set_val_str(gguf, "general.name", "Tiny Test");
    gguf_set_val_str(gguf, "general.size_label", "0.6B");
  });
  auto info = read_model_info(path);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->architecture, "qwen3");
  EXPECT_EQ(info->name, "Tiny Test");
  EXPECT_EQ(info->size_label, "0.6B");
  EXPECT_EQ(info->parameters, 64u * 8u + 16u);
  EXPECT_EQ(info->tensors, 2u);
  EXPECT_EQ(info->quantization, "Q8_0");
}

TEST_F(ModelInfoTest, TruncatedTensorDataIsReported) {
  fs::path whole = dir_ / "whole.gguf";
  write_gguf(whole, [](gguf_context* gguf) { gguf_set_val_str(gguf, "general.architecture", "llama"); });
  std::string bytes = read_bytes(whole);
  fs::path cut = dir_ / "cut.gguf";
  write_bytes(cut, std::string_view(bytes).substr(0, bytes.size() - 10));
  auto info = read_model_info(cut);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(info.error().message.find("truncated"), std::string::npos) << info.error().message;
}

TEST_F(ModelInfoTest, BrokenFilesAreErrorsNotCrashes) {
  fs::path whole = dir_ / "whole.gguf";
  write_gguf(whole, [](gguf_context* gguf) { gguf_set_val_str(gguf, "general.architecture", "llama"); });
  std::string bytes = read_bytes(whole);
  struct Case {
    std::string name;
    std::string data;
    std::string says;
  };
  std::vector<Case> cases = {
      {"empty.gguf", "", "too short"},
      {"text.gguf", "this is not a model at all", "bad magic"},
      {"header-cut.gguf", bytes.substr(0, 40), "corrupt or truncated"},
  };
  // Every cut inside the header and tensor infos fails cleanly.
  for (size_t cut = 8; cut < 200 && cut < bytes.size(); cut += 7) {
    cases.push_back({"cut" + std::to_string(cut) + ".gguf", bytes.substr(0, cut), ""});
  }
  for (const auto& c : cases) {
    write_bytes(dir_ / c.name, c.data);
    auto info = read_model_info(dir_ / c.name);
    ASSERT_FALSE(info.ok()) << c.name;
    EXPECT_EQ(info.error().code, ErrorCode::kInvalidArgument) << c.name;
    if (!c.says.empty()) {
      EXPECT_NE(info.error().message.find(c.says), std::string::npos)
          << c.name << ": " << info.error().message;
    }
  }
}

TEST_F(ModelInfoTest, CapturedGgmlReasonGoesIntoTheError) {
  fs::path whole = dir_ / "whole.gguf";
  write_gguf(whole, [](gguf_context* gguf) { gguf_set_val_str(gguf, "general.architecture", "llama"); });
  write_bytes(dir_ / "cut.gguf", read_bytes(whole).substr(0, 40));
  auto info = read_model_info(dir_ / "cut.gguf", /*capture_ggml_log=*/true);
  ASSERT_FALSE(info.ok());
  // ggml's own words, e.g. "(string length 20 exceeds remaining file size 8 bytes)".
  EXPECT_NE(info.error().message.find("exceeds remaining file size"), std::string::npos)
      << info.error().message;
  // The previous callback is back: a capture-less read logs again, not into a stale capture.
  auto again = read_model_info(dir_ / "cut.gguf");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message.find("exceeds"), std::string::npos) << again.error().message;
}

TEST_F(ModelInfoTest, MissingOrWronglyTypedArchitecture) {
  fs::path none = dir_ / "none.gguf";
  write_gguf(none, [](gguf_context* gguf) { gguf_set_val_str(gguf, "general.name", "x"); });
  auto info = read_model_info(none);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message.find("no general.architecture"), std::string::npos);

  fs::path typed = dir_ / "typed.gguf";
  write_gguf(typed, [](gguf_context* gguf) {
    gguf_set_val_u32(gguf, "general.architecture", 7);   // a number where a string belongs
    gguf_set_val_u32(gguf, "general.size_label", 3);
  });
  auto wrong = read_model_info(typed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("no general.architecture"), std::string::npos);

  auto missing = read_model_info(dir_ / "absent.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(ModelInfoTest, ListingHasEveryGgufSortedWithItsErrors) {
  write_gguf(dir_ / "b-good.gguf",
             [](gguf_context* gguf) { gguf_set_val_str(gguf, "general.architecture", "llama"); });
  write_bytes(dir_ / "a-broken.gguf", "GGUF but nothing else");
  write_bytes(dir_ / "notes.txt", "not a model");
  write_bytes(dir_ / "c.gguf.part", "a download in progress");
  fs::create_directories(dir_ / "folder.gguf");
  auto files = list_model_files(dir_);
  ASSERT_TRUE(files.ok()) << files.error().message;
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path.filename(), "a-broken.gguf");
  EXPECT_FALSE((*files)[0].info.ok());
  EXPECT_EQ((*files)[0].file_size, 21u);
  EXPECT_EQ((*files)[1].path.filename(), "b-good.gguf");
  ASSERT_TRUE((*files)[1].info.ok()) << (*files)[1].info.error().message;
  EXPECT_EQ((*files)[1].info->architecture, "llama");

  auto absent = list_model_files(dir_ / "nope");
  ASSERT_TRUE(absent.ok());
  EXPECT_TRUE(absent->empty());
}

TEST(FormatParameterCountTest, ShortForms) {
  EXPECT_EQ(format_parameter_count(0), "0");
  EXPECT_EQ(format_parameter_count(999), "999");
  EXPECT_EQ(format_parameter_count(1500), "1.5K");
  EXPECT_EQ(format_parameter_count(260000), "260K");
  EXPECT_EQ(format_parameter_count(292352), "292K");
  EXPECT_EQ(format_parameter_count(596049920), "596M");
  EXPECT_EQ(format_parameter_count(7615616512ULL), "7.62B");
  EXPECT_EQ(format_parameter_count(70553706496ULL), "70.6B");
  EXPECT_EQ(format_parameter_count(1000000), "1M");
}

}  // namespace
}  // namespace keel::local

#include "knowledge/extract.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "knowledge/chunk.h"

namespace keel::knowledge {
namespace {

std::string block_text(const Extracted& doc, size_t i) {
  return doc.text.substr(doc.blocks[i].start, doc.blocks[i].end - doc.blocks[i].start);
}

TEST(ExtractTest, MarkdownHeadingsParagraphsAndFences) {
  auto doc = extract_markdown(
      "# Guide\n\nIntro line one\nline two\n\n## Install\n\nRun it.\n\n```sh\nmake\n\nmake "
      "test\n```\n"
      "Setext\n------\ntext under setext\n");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  ASSERT_EQ(doc->blocks.size(), 4u);
  EXPECT_EQ(block_text(*doc, 0), "Intro line one\nline two");
  EXPECT_EQ(doc->blocks[0].heading, "Guide");
  EXPECT_EQ(block_text(*doc, 1), "Run it.");
  EXPECT_EQ(doc->blocks[1].heading, "Guide > Install");
  EXPECT_EQ(block_text(*doc, 2), "```sh\nmake\n\nmake test\n```");  // a fence stays whole
  EXPECT_EQ(doc->blocks[3].heading, "Guide > Setext");
}

TEST(ExtractTest, HtmlBlocksHeadingsAndWhatIsLeftOut) {
  auto doc = extract_html(
      "<html><head><title>Page</title><style>p{}</style></head><body>"
      "<div role=\"navigation\"><a href=x>Index</a></div><nav>menu</nav>"
      "<p>Before   any\nheading</p><h2>Usage<a class=headerlink>\xc2\xb6</a></h2>"
      "<p>Call <code>f()</code> twice.</p><ul><li>one</li><li>two</li></ul>"
      "<script>alert(1)</script><pre>x = 1\n  y = 2</pre></body></html>");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  ASSERT_EQ(doc->blocks.size(), 5u);
  EXPECT_EQ(block_text(*doc, 0), "Before any heading");
  EXPECT_EQ(doc->blocks[0].heading, "Page");
  EXPECT_EQ(block_text(*doc, 1), "Call f() twice.");
  EXPECT_EQ(doc->blocks[1].heading, "Page > Usage");
  EXPECT_EQ(block_text(*doc, 2), "one");
  EXPECT_EQ(block_text(*doc, 4), "x = 1\n  y = 2");
  EXPECT_EQ(doc->text.find("menu"), std::string::npos);
  EXPECT_EQ(doc->text.find("alert"), std::string::npos);
}

TEST(ExtractTest, BinaryAndEmptyInputAreNamed) {
  auto binary = extract_text(std::string("abc\0def", 7));
  ASSERT_FALSE(binary.ok());
  EXPECT_EQ(binary.error().message, "a binary file, not text (a NUL byte at offset 3)");
  auto latin1 = extract_markdown("caf\xe9 au lait");
  ASSERT_FALSE(latin1.ok());
  EXPECT_EQ(latin1.error().message, "a binary file, not UTF-8 text (an invalid byte at offset 3)");
  auto blank = extract_text("  \n\n \n");
  ASSERT_FALSE(blank.ok());
  EXPECT_EQ(blank.error().message, "no text in this text file");
  EXPECT_FALSE(extract_html("<html><script>x</script></html>").ok());
}

const char* kSpecPdf = "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf";

TEST(ExtractTest, PdfThroughPdftotext) {
  if (!std::filesystem::exists(kSpecPdf))
    GTEST_SKIP() << kSpecPdf << " is absent (scripts/setup.sh installs shared-mime-info)";
  auto doc = extract_pdf(kSpecPdf);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_NE(doc->text.find("Shared MIME-info Database"), std::string::npos);
  EXPECT_EQ(doc->blocks.front().heading, "page 1");
  EXPECT_NE(doc->blocks.back().heading, "page 1");
}

TEST(ExtractTest, CorruptAndPasswordProtectedPdfsAreNamed) {
  const std::string dir = testing::TempDir() + "pdfs-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/corrupt.pdf") << "%PDF-1.4\nthis is not a pdf at all\n"; }
  auto corrupt = extract_pdf(dir + "/corrupt.pdf");
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().message.rfind("a corrupt or unreadable pdf (pdftotext: ", 0), 0u)
      << corrupt.error().message;
  if (std::filesystem::exists(kSpecPdf) && std::system("command -v qpdf >/dev/null") == 0) {
    const std::string locked = dir + "/locked.pdf";
    ASSERT_EQ(
        std::system(("qpdf --encrypt secret secret 256 -- " + std::string(kSpecPdf) + " " + locked)
                        .c_str()),
        0);
    auto result = extract_pdf(locked);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().message.rfind("a password-protected pdf (pdftotext: ", 0), 0u)
        << result.error().message;
  }
  std::filesystem::remove_all(dir);
}

TEST(ChunkTest, SizesOverlapAndSections) {
  std::string long_paragraph;
  for (int i = 0; i < 60; ++i)
    long_paragraph += "Sentence number " + std::to_string(i) + " is here. ";
  Extracted doc;
  doc.add("Short intro.", "A");
  doc.add(long_paragraph, "A > B");
  doc.add("Tail paragraph.", "A > B");
  doc.add("Other section.", "A > C");
  const auto chunks = chunk_document(doc, {.size = 40, .overlap = 10});
  ASSERT_GE(chunks.size(), 5u);
  EXPECT_EQ(chunks.front().text, "Short intro.");  // sections never share a chunk
  EXPECT_EQ(chunks.back().text, "Other section.");
  for (size_t i = 1; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].heading, "A > B");
    EXPECT_LE(estimate_tokens(chunks[i].text), 40) << chunks[i].text;
    EXPECT_EQ(chunks[i].text, doc.text.substr(chunks[i].start, chunks[i].end - chunks[i].start));
    if (i + 2 < chunks.size()) {
      EXPECT_LT(chunks[i + 1].start, chunks[i].end) << "consecutive chunks overlap";
    }
  }
  // Every byte of the section is in some chunk.
  EXPECT_EQ(chunks[1].start, doc.blocks[1].start);
  EXPECT_EQ(chunks[chunks.size() - 2].end, doc.blocks[2].end);
}

TEST(ChunkTest, TokenEstimate) {
  EXPECT_EQ(estimate_tokens("Hello, world!"), 4);
  EXPECT_EQ(estimate_tokens("internationalization"), 4);  // 20 bytes: one token per 6
  EXPECT_EQ(estimate_tokens(""), 0);
}

}  // namespace
}  // namespace keel::knowledge

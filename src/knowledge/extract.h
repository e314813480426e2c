// Text and structure out of a document: md, txt, html (libxml2's HTML parser) and pdf (poppler's
// `pdftotext`, run as a program). Pure apart from extract_pdf and extract_file, which read.
//
//   auto doc = extract_html(bytes);            // Result<Extracted>
//   for (const Block& b : doc->blocks) use(doc->text.substr(b.start, b.end - b.start), b.heading);
//
// Every extractor takes untrusted bytes: fuzz/knowledge_extract_fuzz.cpp drives them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace keel::knowledge {

// A paragraph-like unit of the extracted text: a paragraph, list item, table cell, code block
// or pdf paragraph, with the heading path it sits under ("Title > Section").
struct Block {
  size_t start = 0;  // byte range in Extracted::text
  size_t end = 0;
  std::string heading;
};

// A document's text, blocks separated by a blank line, and its blocks in order.
struct Extracted {
  std::string text;
  std::vector<Block> blocks;
  void add(std::string_view block_text, const std::string& heading);
};

enum class DocumentKind { kMarkdown, kText, kHtml, kPdf, kUnknown };
// By the file name's extension (.md .markdown, .txt .text, .html .htm, .pdf), case-insensitive.
DocumentKind document_kind(std::string_view path);

// Markdown: ATX (#) and setext headings make the heading path; blank lines end paragraphs;
// fenced code stays whole.
Result<Extracted> extract_markdown(std::string_view bytes);
// Plain text: blank lines end paragraphs.
Result<Extracted> extract_text(std::string_view bytes);
// HTML: headings (h1-h6, else <title>) make the heading path; block elements (p, li, pre, td,
// dd, ...) make blocks; script, style, navigation (nav, role=navigation) and the head are left
// out.
Result<Extracted> extract_html(std::string_view bytes);
// pdftotext's output: pages split at form feeds, paragraphs at blank lines; heading "page N".
Result<Extracted> extract_pdf_text(std::string_view text);
// Runs `pdftotext -enc UTF-8 PATH -` and extracts its output; a corrupt or encrypted pdf is an
// error quoting pdftotext's message.
Result<Extracted> extract_pdf(const std::string& path);

// Extracts bytes by the kind `name`'s extension says (uploads: a pdf goes through a temp file
// for pdftotext).
Result<Extracted> extract_document(std::string_view name, std::string_view bytes);

// Reads and extracts a file by its kind. An unreadable file, a binary file named as text and a
// file with no text are errors, each saying which.
Result<Extracted> extract_file(const std::string& path);

// Text that is not UTF-8, or holds NUL bytes, is a binary file: the error says so.
Status check_text(std::string_view bytes);

}  // namespace keel::knowledge

// Line input for the tools that read text a line at a time (lm-score, lm-generate -f): a pull
// reader over a file or standard input with the corpus tokenizer's line rules (universal
// newlines, a leading UTF-8 BOM skipped), and the word splitter both share. Unlike
// tokenize_file(), a bad line is reported to the caller (who may skip it), not thrown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/utf8.hpp"

namespace wordlm {

// Why a line cannot be tokenized: its 1-based byte column and what is wrong there.
struct LineProblem {
  std::size_t column = 0;
  std::string what;  // "NUL byte", "invalid UTF-8 (byte 0xNN)" (or, from encode_line, an unknown word)
};

// The first reason s is not a text line (a NUL byte anywhere, then invalid UTF-8), or nothing.
std::optional<LineProblem> line_problem(std::string_view s);

// Calls on_word(word) for each whitespace-separated word of s (Python's str.split() rules), or
// returns the first problem (a NUL byte anywhere, invalid UTF-8) before calling anything.
template <class F>
std::optional<LineProblem> for_each_word(std::string_view s, F&& on_word);

// Reads lines from a file, or from standard input when path is "-". Reads in 1 MiB blocks; a
// line is held whole (so memory is bounded by the longest line, not by the file).
class LineReader {
 public:
  explicit LineReader(const std::string& path);  // throws CorpusError (NoInput) if it cannot open
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its terminator; false at the end of the input. Throws Io on a read error.
  bool next(std::string& line);
  std::int64_t line_number() const noexcept { return line_no_; }  // of the line last returned
  const std::string& name() const noexcept { return name_; }       // "<stdin>" for "-"

 private:
  bool fill();  // reads more; false at EOF
  std::string name_;
  int fd_ = -1;
  bool own_fd_ = false, eof_ = false;
  std::string buf_;
  std::size_t pos_ = 0, end_ = 0;
  std::int64_t line_no_ = 0;
};

// ---------------------------------------------------------------- implementation
template <class F>
std::optional<LineProblem> for_each_word(std::string_view s, F&& on_word) {
  if (auto bad = line_problem(s)) return bad;
  std::size_t i = 0, start = 0;
  bool in_word = false;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = 1;
    bool space;
    if (b < 0x80) {
      space = utf8::is_space(b);
    } else {
      char32_t cp = 0;
      len = utf8::decode(s, i, &cp);
      space = utf8::is_space(cp);
    }
    if (space) {
      if (in_word) on_word(s.substr(start, i - start));
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      start = i;
    }
    i += len;
  }
  if (in_word) on_word(s.substr(start));
  return std::nullopt;
}

}  // namespace wordlm

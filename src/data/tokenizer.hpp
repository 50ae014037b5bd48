// Streaming PTB-style tokenizer: reads a text file in 1 MiB chunks and reports each
// whitespace-separated token and each line end, never holding the whole text. Line ends are
// Python's universal newlines (\n, \r\n, \r); whitespace is Python's str.split() set; a leading
// UTF-8 BOM is skipped. Rejects, with file:line:column, a NUL byte and invalid UTF-8.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace wordlm {

enum class CorpusErrc { MissingFile, EmptySplit, InvalidUtf8, NulByte, TooFewTokens, OutOfVocabulary, ReadError };

class CorpusError : public Error {
 public:
  CorpusError(CorpusErrc code, ErrorKind kind, const std::string& what) : Error(kind, what), code_(code) {}
  CorpusErrc code() const noexcept { return code_; }

 private:
  CorpusErrc code_;
};

struct TokenizeOptions {
  bool lowercase = false;  // ASCII letters only
};

struct FileStats {
  std::int64_t bytes = 0;
  std::int64_t lines = 0;
  std::int64_t tokens = 0;  // words, excluding the <eos> added per line
  std::string sha256;
};

// on_token(word) for each token; on_eol() after each line (blank lines included).
FileStats tokenize_file(const std::string& path, const TokenizeOptions& opts,
                        const std::function<void(std::string_view)>& on_token,
                        const std::function<void()>& on_eol);

// Same rules over an in-memory text (used by tests and the fuzz target); `name` labels errors.
FileStats tokenize_text(std::string_view text, const std::string& name, const TokenizeOptions& opts,
                        const std::function<void(std::string_view)>& on_token,
                        const std::function<void()>& on_eol);

}  // namespace wordlm

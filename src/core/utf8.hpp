// UTF-8 validation and the whitespace rule the tokenizer follows. Whitespace is exactly what
// Python's str.split() splits on, so a corpus tokenizes the same here as in pytorch/examples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wordlm::utf8 {

// Decodes one code point at s[i]; returns its byte length (1..4), or 0 if the bytes at i are
// not a valid, shortest-form, non-surrogate UTF-8 sequence (or are truncated). *cp gets the value.
std::size_t decode(std::string_view s, std::size_t i, char32_t* cp) noexcept;

// Offset of the first invalid byte, or npos if s is valid UTF-8.
std::size_t first_invalid(std::string_view s) noexcept;
inline bool valid(std::string_view s) noexcept { return first_invalid(s) == std::string_view::npos; }

// Structure of a JSON text without parsing it: the deepest nesting of objects/arrays, and the
// number of members/elements directly inside the outermost container (strings and escapes are
// skipped correctly). Lets readers refuse pathological inputs before building a tree.
struct JsonShape {
  int max_depth = 0;
  std::size_t top_level_items = 0;
};
JsonShape json_shape(std::string_view s) noexcept;

// Python's str.isspace() set: \t\n\v\f\r, \x1c-\x1f, space, U+0085, U+00A0, U+1680,
// U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
bool is_space(char32_t cp) noexcept;

}  // namespace wordlm::utf8

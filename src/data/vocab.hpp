// Vocab: word <-> id, ids dense from 0 in order of first insertion (as pytorch/examples'
// Dictionary). Lookups take string_view without allocating.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wordlm {

class Vocab {
 public:
  static constexpr std::string_view kEos = "<eos>";
  static constexpr std::string_view kUnk = "<unk>";

  Vocab() = default;
  // Throws Data on duplicate or empty words.
  explicit Vocab(std::vector<std::string> words);

  std::int32_t add(std::string_view w);  // id of w, inserting it if new
  std::optional<std::int32_t> find(std::string_view w) const;
  const std::string& word(std::int32_t id) const { return words_.at(static_cast<std::size_t>(id)); }
  std::int32_t size() const noexcept { return static_cast<std::int32_t>(words_.size()); }
  std::int32_t unk_id() const noexcept { return unk_; }  // -1 if absent
  std::int32_t eos_id() const noexcept { return eos_; }  // -1 if absent
  const std::vector<std::string>& words() const noexcept { return words_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> words_;
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> index_;
  std::int32_t unk_ = -1, eos_ = -1;
};

}  // namespace wordlm

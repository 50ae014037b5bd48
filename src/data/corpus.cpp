// Corpus loading: one streaming pass per file; --max-vocab prunes after counting, then remaps.
#include "data/corpus.hpp"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "nlohmann/json.hpp"

namespace wordlm {

namespace {

// Tokenize `path` into provisional ids, adding new words to `vocab` and counting occurrences.
Split read_adding(const std::string& path, const std::string& name, Vocab& vocab,
                  std::vector<std::int64_t>& counts, bool lowercase) {
  Split s;
  s.name = name;
  s.path = path;
  TokenizeOptions topt{lowercase};
  auto count = [&](std::int32_t id) {
    if (static_cast<std::size_t>(id) >= counts.size()) counts.resize(static_cast<std::size_t>(id) + 1, 0);
    ++counts[static_cast<std::size_t>(id)];
    s.ids.push_back(id);
  };
  s.stats = tokenize_file(
      path, topt, [&](std::string_view w) { count(vocab.add(w)); },
      [&] { count(vocab.add(Vocab::kEos)); });
  return s;
}

}  // namespace

std::string find_split_file(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw CorpusError(CorpusErrc::MissingFile, ErrorKind::NoInput, "corpus folder " + dir + " does not exist");
  for (const auto& cand : {name + ".txt", "ptb." + name + ".txt"}) {
    auto p = fs::path(dir) / cand;
    if (fs::exists(p, ec)) return p.string();
  }
  throw CorpusError(CorpusErrc::MissingFile, ErrorKind::NoInput,
                    "corpus " + dir + ": no " + name + ".txt or ptb." + name + ".txt");
}

const Split& Corpus::split(const std::string& name) const {
  if (name == "train") return train;
  if (name == "valid") return valid;
  if (name == "test") return test;
  throw_usage("unknown split '" + name + "' (expected train, valid or test)");
}

Split load_split(const std::string& path, const std::string& name, const Vocab& vocab, bool lowercase) {
  Split s;
  s.name = name;
  s.path = path;
  const std::int32_t unk = vocab.unk_id();
  const auto eos = vocab.find(Vocab::kEos);
  std::int64_t line = 1;
  auto map = [&](std::string_view w) -> std::int32_t {
    if (auto id = vocab.find(w)) return *id;
    if (unk < 0)
      throw CorpusError(CorpusErrc::OutOfVocabulary, ErrorKind::Data,
                        path + ":" + std::to_string(line) + ": word '" + std::string(w) +
                            "' is not in the vocabulary, which has no <unk> to map it to");
    ++s.unk_mapped;
    return unk;
  };
  TokenizeOptions topt{lowercase};
  s.stats = tokenize_file(
      path, topt, [&](std::string_view w) { s.ids.push_back(map(w)); },
      [&] {
        s.ids.push_back(eos ? *eos : map(Vocab::kEos));
        ++line;
      });
  return s;
}

Corpus load_corpus(const std::string& dir, const CorpusOptions& opts) {
  if (opts.max_vocab < 0) throw_usage("the vocabulary limit must be >= 0 (0: keep every word)");
  Corpus c;
  c.dir = dir;
  const std::string ptrain = find_split_file(dir, "train");
  const std::string pvalid = find_split_file(dir, "valid");
  const std::string ptest = find_split_file(dir, "test");

  Vocab prov;  // provisional vocabulary, first-occurrence order
  std::vector<std::int64_t> counts;
  c.train = read_adding(ptrain, "train", prov, counts, opts.lowercase);
  if (c.train.ids.empty())
    throw CorpusError(CorpusErrc::EmptySplit, ErrorKind::Data, ptrain + ": the train split is empty");
  const bool all = opts.vocab_from == VocabFrom::All;
  if (all) {
    c.valid = read_adding(pvalid, "valid", prov, counts, opts.lowercase);
    c.test = read_adding(ptest, "test", prov, counts, opts.lowercase);
  }

  // Choose the kept words.
  const std::int32_t n = prov.size();
  std::vector<std::int32_t> remap(static_cast<std::size_t>(n));
  std::iota(remap.begin(), remap.end(), 0);
  std::vector<std::string> kept_words = prov.words();
  if (opts.max_vocab > 0 && opts.max_vocab < n) {
    if (opts.max_vocab < 2) throw_usage("--max-vocab must be at least 2 (room for <eos> and <unk>)");
    std::vector<std::int32_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      return counts[static_cast<std::size_t>(a)] > counts[static_cast<std::size_t>(b)];
    });
    // <eos> and <unk> are always in: every line ends in <eos>, and pruned words need <unk>.
    std::vector<char> keep(static_cast<std::size_t>(n), 0);
    const std::int32_t unk_prov = prov.unk_id();
    std::int64_t slots = opts.max_vocab - 2;
    keep[static_cast<std::size_t>(prov.eos_id())] = 1;
    if (unk_prov >= 0) keep[static_cast<std::size_t>(unk_prov)] = 1;
    for (std::int64_t k = 0; k < n && slots > 0; ++k) {
      auto id = static_cast<std::size_t>(order[static_cast<std::size_t>(k)]);
      if (!keep[id]) keep[id] = 1, --slots;
    }
    kept_words.clear();
    for (std::int32_t id = 0; id < n; ++id)
      if (keep[static_cast<std::size_t>(id)]) kept_words.push_back(prov.word(id));
    if (unk_prov < 0) kept_words.emplace_back(Vocab::kUnk);
    c.vocab = Vocab(kept_words);
    const std::int32_t unk = c.vocab.unk_id();
    for (std::int32_t id = 0; id < n; ++id)
      remap[static_cast<std::size_t>(id)] = keep[static_cast<std::size_t>(id)] ? *c.vocab.find(prov.word(id)) : -1;
    auto apply = [&](Split& s) {
      for (auto& t : s.ids) {
        auto r = remap[static_cast<std::size_t>(t)];
        if (r < 0) r = unk, ++s.unk_mapped;
        t = r;
      }
    };
    apply(c.train);
    if (all) apply(c.valid), apply(c.test);
  } else {
    if (!all && prov.unk_id() < 0) kept_words.emplace_back(Vocab::kUnk);
    c.vocab = Vocab(kept_words);
  }
  if (!all) {
    c.valid = load_split(pvalid, "valid", c.vocab, opts.lowercase);
    c.test = load_split(ptest, "test", c.vocab, opts.lowercase);
  }
  return c;
}

nlohmann::json split_identity(const Split& s) {
  return {{"file", std::filesystem::path(s.path).filename().string()},
          {"bytes", s.stats.bytes},
          {"lines", s.stats.lines},
          {"tokens", s.size()},
          {"sha256", s.stats.sha256},
          {"unk_mapped", s.unk_mapped}};
}

}  // namespace wordlm

// The bodies of the fuzz targets, shared by the libFuzzer entry points (fuzz_*.cpp) and the test
// that replays fuzz/seeds/ and fuzz/regressions/ in every normal test run
// (tests/unit/test_fuzz_regressions.cpp), so a fixed finding stays fixed without clang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "data/batchify.hpp"
#include "data/tokenizer.hpp"
#include "data/vocab.hpp"
#include "io/checkpoint.hpp"
#include "model/infer.hpp"

namespace wordlm::fuzz {

// Bytes -> safetensors container -> wordlm profile -> (small models) an InferenceModel and one
// forward step. Must end in success or a wordlm::Error that rejects the input (Usage, Data, ...);
// an Internal error (a broken invariant, exit 70) aborts, so the fuzzer reports it.
inline void checkpoint_one(const std::uint8_t* data, std::size_t size) {
  try {
    Safetensors st = parse_safetensors({reinterpret_cast<const std::byte*>(data), size}, "fuzz");
    Checkpoint ck = checkpoint_from_safetensors(std::move(st), "fuzz");
    if (param_count(ck.config) <= 200000) {
      InferenceModel m = InferenceModel::from_checkpoint(ck);
      ThreadPool pool(1);
      InferenceModel::State state;
      state.reset(ck.config, 1);
      const std::int32_t tok = static_cast<std::int32_t>(size % static_cast<std::size_t>(ck.config.vocab_size));
      m.forward(&tok, 1, state, pool, InferenceModel::Post::LogSoftmax);
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Internal) std::abort();  // a broken invariant is a finding, not a rejection
  }
}

// First byte: options (bit 0: lowercase); the rest: a text file. Tokenizes it building a
// vocabulary, re-reads it against that fixed vocabulary (the ids must agree: aborts otherwise),
// and batchifies the ids into BPTT windows (checked bounds).
inline void corpus_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  TokenizeOptions opt;
  opt.lowercase = data[0] & 1;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    Vocab vocab;
    std::vector<std::int32_t> ids, again;
    const auto st = tokenize_text(text, "fuzz.txt", opt, [&](std::string_view w) { ids.push_back(vocab.add(w)); },
                                  [&] { ids.push_back(vocab.add(Vocab::kEos)); });
    tokenize_text(text, "fuzz.txt", opt, [&](std::string_view w) { again.push_back(*vocab.find(w)); },
                  [&] { again.push_back(*vocab.find(Vocab::kEos)); });
    if (ids != again || static_cast<std::int64_t>(ids.size()) != st.tokens + st.lines) std::abort();
    for (std::int64_t b : {1, 3, 20}) {
      const Batched bt = batchify(ids, b);
      for (std::int64_t w = 0; w < num_windows(bt.rows, 35); ++w) {
        const Window win = window(bt.rows, 35, w);
        if (win.seq_len < 1 || win.start + win.seq_len >= bt.rows + 1) std::abort();
      }
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Internal) std::abort();  // a broken invariant is a finding, not a rejection
  }
}

}  // namespace wordlm::fuzz

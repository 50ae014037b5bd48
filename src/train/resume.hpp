// Resume checkpoints: the model, the optimizer state, the hidden state and the Position of a run,
// in one atomic safetensors file (kind "resume", docs/checkpoint.md), written and read through
// the field lists of train/records.hpp and TrainOptions, so both directions agree by construction.
#pragma once

#include <cstdint>
#include <string>

#include "data/corpus.hpp"
#include "model/lstm_lm.hpp"
#include "nlohmann/json.hpp"
#include "train/optim.hpp"
#include "train/records.hpp"
#include "train/trainer.hpp"

namespace wordlm {

// The corpus as reports and resume checkpoints identify it: {"dir", "vocab_size", "train",
// "valid", "test"} with each split's size and sha256.
nlohmann::json corpus_identity(const Corpus& c);

void write_resume(const std::string& path, const LstmLM<float>& model, const Optimizer& opt,
                  const LstmLM<float>::Hidden& hidden, const Position& pos, const TrainOptions& o, const Corpus& corpus);

// Restores model parameters, optimizer state, hidden state and returns the position, after
// checking that the checkpoint belongs to this corpus and batch size. nwin: windows per epoch.
// Throws Usage (a different corpus or batch size, not a resume file) or CheckpointError.
Position read_resume(const std::string& path, const Corpus& corpus, const TrainOptions& o, std::int64_t nwin,
                     LstmLM<float>& model, Optimizer& opt, LstmLM<float>::Hidden& hidden);

}  // namespace wordlm

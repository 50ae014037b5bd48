// Perplexity evaluation exactly as pytorch/examples' evaluate(): batchify the split into B
// columns, walk BPTT windows carrying the hidden state, average the NLL of every predicted token.
// compare() runs two models in lock step over the same windows and measures how far the second
// (e.g. int8) drifts from the first (the fp32 base): per-token KL divergence and top-1 agreement,
// the report llama-perplexity's --kl-divergence made familiar.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/threads.hpp"
#include "model/infer.hpp"
#include "stats/stats.hpp"

namespace wordlm {

struct EvalOptions {
  std::int64_t batch = 10;
  std::int64_t bptt = 35;
  // evaluate() only: columns [col_begin, col_end) of the batch (-1: to the last), the share of one
  // process in data-parallel training; the shares' NllStats add up to the whole batch's
  std::int64_t col_begin = 0, col_end = -1;
  std::function<void(std::int64_t done, std::int64_t total)> progress;  // windows
};

struct EvalResult {
  NllStats nll;
  std::int64_t tokens = 0;  // predicted tokens
  double seconds = 0;
  double tokens_per_sec() const { return seconds > 0 ? double(tokens) / seconds : 0; }
};

// Throws Data if the split is too short for one window of this batch size.
EvalResult evaluate(const InferenceModel& model, std::span<const std::int32_t> ids, const EvalOptions& opt, ThreadPool& pool);

struct CompareResult {
  NllStats base, other;
  std::vector<double> kld;     // per token: KL(base || other) in nats
  std::int64_t top1_same = 0;  // tokens whose argmax agrees
  std::int64_t tokens = 0;
  double seconds = 0;
};

CompareResult compare(const InferenceModel& other, const InferenceModel& base, std::span<const std::int32_t> ids,
                      const EvalOptions& opt, ThreadPool& pool);

}  // namespace wordlm

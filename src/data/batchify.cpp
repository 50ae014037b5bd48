// batchify: narrow to rows*bsz tokens, view as (bsz, rows), transpose.
#include "data/batchify.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace wordlm {

Batched batchify(std::span<const std::int32_t> ids, std::int64_t bsz) {
  if (bsz < 1) throw_usage("batch size must be at least 1");
  Batched b;
  b.cols = bsz;
  b.rows = static_cast<std::int64_t>(ids.size()) / bsz;
  b.data.resize(static_cast<std::size_t>(b.rows * bsz));
  for (std::int64_t j = 0; j < bsz; ++j)
    for (std::int64_t i = 0; i < b.rows; ++i)
      b.data[static_cast<std::size_t>(i * bsz + j)] = ids[static_cast<std::size_t>(j * b.rows + i)];
  return b;
}

Batched select_columns(const Batched& b, std::int64_t c0, std::int64_t c1) {
  WORDLM_CHECK(0 <= c0 && c0 <= c1 && c1 <= b.cols, "column range outside the batch");
  Batched s;
  s.cols = c1 - c0;
  s.rows = b.rows;
  s.data.resize(static_cast<std::size_t>(s.rows * s.cols));
  for (std::int64_t i = 0; i < b.rows; ++i)
    std::copy_n(b.row(i) + c0, s.cols, s.data.begin() + i * s.cols);
  return s;
}

std::int64_t num_windows(std::int64_t rows, std::int64_t bptt) noexcept {
  if (rows < 2 || bptt < 1) return 0;
  return (rows - 1 + bptt - 1) / bptt;
}

Window window(std::int64_t rows, std::int64_t bptt, std::int64_t index) noexcept {
  Window w;
  w.start = index * bptt;
  w.seq_len = std::min(bptt, rows - 1 - w.start);
  return w;
}

}  // namespace wordlm

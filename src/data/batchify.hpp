// batchify and BPTT windows, exactly as pytorch/examples word_language_model/main.py.
//
//   tokens  t0 t1 t2 ... t(N-1)            N = 26, bsz = 4 -> rows = 26 // 4 = 6 (t24, t25 trimmed)
//
//   data [rows, bsz] (row-major):          column j holds tokens j*rows .. j*rows + rows - 1
//            col0 col1 col2 col3
//     row0    t0   t6   t12  t18
//     row1    t1   t7   t13  t19
//     ...
//     row5    t5   t11  t17  t23
//
//   window starting at row i: seq_len = min(bptt, rows - 1 - i)
//     inputs  = rows [i, i + seq_len)       targets = rows [i + 1, i + 1 + seq_len)
//   windows start at i = 0, bptt, 2*bptt, ... while i < rows - 1.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace wordlm {

struct Batched {
  std::vector<std::int32_t> data;  // (rows, cols) row-major
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::int32_t* row(std::int64_t i) const { return data.data() + i * cols; }
  std::int64_t tokens() const noexcept { return rows * cols; }
};

// Throws Usage if bsz < 1. rows may be 0 or 1 (no windows) - callers check num_windows().
Batched batchify(std::span<const std::int32_t> ids, std::int64_t bsz);

// Columns [c0, c1) of b, same rows: one process's share of a batch in data-parallel training
// (each column is its own stream of text, so a share is a contiguous run of columns).
Batched select_columns(const Batched& b, std::int64_t c0, std::int64_t c1);

struct Window {
  std::int64_t start = 0;    // first input row
  std::int64_t seq_len = 0;  // rows in this window
};

std::int64_t num_windows(std::int64_t rows, std::int64_t bptt) noexcept;
Window window(std::int64_t rows, std::int64_t bptt, std::int64_t index) noexcept;

}  // namespace wordlm

// SharedUpdate: the gradient sum and the optimizer over shared memory, one slice per process.
#include "train/shared_update.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/timer.hpp"

namespace wordlm {

SharedUpdate::SharedUpdate(NodeMemory& mem, LstmLM<float>& model, Optimizer& opt)
    : mem_(mem), model_(model), opt_(opt), n_(model.params.size()), stride_((n_ + 15) / 16 * 16) {
  const std::size_t P = static_cast<std::size_t>(mem_.size()), me = static_cast<std::size_t>(mem_.rank());
  WORDLM_CHECK(model.grads.size() == n_ && n_ > 0, "gradient and parameters differ in size");
  params_ = mem_.allocate(n_);
  slots_ = mem_.allocate(stride_ * P);
  squares_ = reinterpret_cast<double*>(mem_.allocate(2 * P));  // 64-byte aligned, so fit for doubles
  const ParamSpec& emb = model.spec(ParamRole::Embedding);
  vocab_ = emb.shape[0], width_ = emb.shape[1];
  emb0_ = emb.offset, emb1_ = emb.offset + static_cast<std::size_t>(vocab_ * width_);
  ids_ = reinterpret_cast<std::int32_t*>(mem_.allocate(P * static_cast<std::size_t>(1 + vocab_)));
  mark_.assign(static_cast<std::size_t>(vocab_), 0);
  // the processes hold the same values (the run's start broadcast them): the first one copies
  if (me == 0) std::memcpy(params_, model.params.data(), sizeof(float) * n_);
  mem_.barrier();
  model.params.move_to(params_);
  model.grads.move_to(slots_ + me * stride_);
  for (AlignedBuffer<float>* b : {&opt.exp_avg(), &opt.exp_avg_sq()})
    if (!b->empty()) {
      float* shared = mem_.allocate(n_);
      if (me == 0) std::memcpy(shared, b->data(), sizeof(float) * n_);
      mem_.barrier();
      b->move_to(shared);
    }
  std::tie(i0_, i1_) = split_range(static_cast<std::int64_t>(n_), mem_.rank(), mem_.size(), 16);
}

void SharedUpdate::note_inputs(const SyncStep& step) {
  std::int32_t* mine = ids_ + static_cast<std::size_t>(mem_.rank()) * static_cast<std::size_t>(1 + vocab_);
  if (!step.embedding.sparse) {
    mine[0] = -1;
    return;
  }
  std::int32_t* out = mine + 1;
  std::int32_t u = 0;
  for (std::int64_t t = 0; t < step.tokens; ++t) {
    const std::int32_t id = step.inputs[t];
    WORDLM_CHECK(id >= 0 && id < vocab_, "input id out of range");
    if (!mark_[static_cast<std::size_t>(id)]) mark_[static_cast<std::size_t>(id)] = 1, out[u++] = id;
  }
  for (std::int32_t k = 0; k < u; ++k) mark_[static_cast<std::size_t>(out[k])] = 0;
  mine[0] = u;
}

// Calls f(s0, s1) on the parts of [a, b) to process: all of it, or with rows_only everything but
// the embedding rows no process touched, in ascending order.
template <class F>
void SharedUpdate::for_segments(std::int64_t a, std::int64_t b, bool rows_only, F&& f) const {
  if (!rows_only) return f(a, b);
  const auto e0 = static_cast<std::int64_t>(emb0_), e1 = static_cast<std::int64_t>(emb1_);
  auto part = [&](std::int64_t s0, std::int64_t s1) {
    s0 = std::max(s0, a), s1 = std::min(s1, b);
    if (s0 < s1) f(s0, s1);
  };
  part(a, e0);
  // rows_ is ascending: start at the first row that ends after a
  auto it = std::upper_bound(rows_.begin(), rows_.end(), (a - e0) / width_ - 1);
  for (; it != rows_.end() && e0 + *it * width_ < b; ++it) part(e0 + *it * width_, e0 + (*it + 1) * width_);
  part(e1, b);
}

double SharedUpdate::step(float lr, double clip, ThreadPool& pool) {
  const std::int64_t P = mem_.size();
  Timer t;
  mem_.barrier();  // every slot complete, every process's ids published
  sparse_ = true;
  rows_.clear();
  for (std::int64_t p = 0; p < P && sparse_; ++p) {
    const std::int32_t* list = ids_ + static_cast<std::size_t>(p) * static_cast<std::size_t>(1 + vocab_);
    if (list[0] < 0) sparse_ = false;
    for (std::int32_t k = 0; sparse_ && k < list[0]; ++k) {
      const std::int32_t id = list[1 + k];
      const auto r0 = static_cast<std::int64_t>(emb0_) + id * width_;
      if (r0 + width_ > i0_ && r0 < i1_ && !mark_[static_cast<std::size_t>(id)]) mark_[static_cast<std::size_t>(id)] = 1, rows_.push_back(id);
    }
  }
  for (std::int64_t id : rows_) mark_[static_cast<std::size_t>(id)] = 0;
  std::sort(rows_.begin(), rows_.end());
  partial_.assign(static_cast<std::size_t>(pool.size()), 0.0);
  pool.run([&](int tid, int nt) {
    auto [a, b] = split_range(i1_ - i0_, tid, nt, 16);
    double sq = 0;
    for_segments(i0_ + a, i0_ + b, sparse_, [&](std::int64_t s0, std::int64_t s1) {
      float* sum = slots_ + s0;
      for (std::int64_t p = 1; p < P; ++p) {
        const float* g = slots_ + static_cast<std::size_t>(p) * stride_ + s0;
        for (std::int64_t i = 0; i < s1 - s0; ++i) sum[i] += g[i];
      }
      sq += Optimizer::squared_sum(sum, 0, s1 - s0);
    });
    partial_[static_cast<std::size_t>(tid)] = sq;
  });
  double mine = 0;
  for (double s : partial_) mine += s;
  squares_[mem_.rank()] = mine;
  mem_.barrier();  // every process's squares
  double total = 0;
  for (std::int64_t p = 0; p < P; ++p) total += squares_[p];
  const double norm = std::sqrt(total);
  reduce_seconds_ += t.seconds();
  t.reset();
  opt_.begin_step();
  const float coef = clip_coefficient(norm, clip);
  // zero-gradient rows stay as they are under plain SGD (p - lr * (0 * coef) == p); not under
  // weight decay or Adam's moments
  const bool rows_only = sparse_ && opt_.config().kind == OptimizerKind::Sgd && opt_.config().weight_decay == 0;
  pool.run([&](int tid, int nt) {
    auto [a, b] = split_range(i1_ - i0_, tid, nt, 16);
    for_segments(i0_ + a, i0_ + b, rows_only,
                 [&](std::int64_t s0, std::int64_t s1) { opt_.update(params_, slots_, lr, coef, s0, s1); });
  });
  mem_.barrier();  // every slice updated before anyone's next forward
  update_seconds_ += t.seconds();
  return norm;
}

}  // namespace wordlm

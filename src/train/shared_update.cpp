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
  // the processes hold the same values (the run's start broadcast them): the first one copies,
  // the others only switch to the copy (slots start zeroed; backward zeroes its slot anyway)
  if (me == 0) std::memcpy(params_, model.params.data(), sizeof(float) * n_);
  std::vector<std::pair<AlignedBuffer<float>*, float*>> moments;  // the optimizer's buffers, their shared copies
  for (AlignedBuffer<float>* b : {&opt.exp_avg(), &opt.exp_avg_sq()})
    if (!b->empty()) {
      float* shared = mem_.allocate(n_);  // (a barrier)
      if (me == 0) std::memcpy(shared, b->data(), sizeof(float) * n_);
      moments.push_back({b, shared});
    }
  mem_.barrier();
  model.params.move_to(params_, false);
  model.grads.move_to(slots_ + me * stride_, false);
  model.set_grads_arrive_zeroed(true);  // the slots start zeroed, and step() zeroes what it reads
  if (model.prepackable_decoder()) {  // the packed decoder: one shared copy, each process packs a part
    for (AlignedBuffer<float>* b : model.decoder_pack_buffers()) b->move_to(mem_.allocate(b->size()), false);
    ThreadPool solo(1);
    model.pack_decoder(static_cast<std::int64_t>(me), static_cast<std::int64_t>(P), solo);
    mem_.barrier();
    model.set_decoder_prepacked(true);
    prepacked_ = true;
  }
  for (auto& [b, shared] : moments) b->move_to(shared, false);
  // this process's share outside the table: an equal part of the dense floats, mapped back to flat
  const auto table = static_cast<std::int64_t>(emb1_ - emb0_), e0 = static_cast<std::int64_t>(emb0_);
  auto [d0, d1] = split_range(static_cast<std::int64_t>(n_) - table, mem_.rank(), mem_.size(), 16);
  if (d0 < e0) dense_.push_back({d0, std::min(d1, e0)});
  if (d1 > e0) dense_.push_back({std::max(d0, e0) + table, d1 + table});
  std::tie(v0_, v1_) = split_range(vocab_, mem_.rank(), mem_.size());
}

std::size_t SharedUpdate::bytes_needed(const LstmLM<float>& model, const Optimizer& opt, int processes) {
  const std::size_t n = model.params.size(), P = static_cast<std::size_t>(processes);
  const std::size_t V = static_cast<std::size_t>(model.spec(ParamRole::Embedding).shape[0]);
  const std::size_t moments = opt.exp_avg().empty() ? 0 : 2;
  const std::size_t H = static_cast<std::size_t>(model.config().nhid);
  const std::size_t packs = model.prepackable_decoder() ? (V + 32) * H + (H + 32) * V : 0;  // padded to 32 rows
  const std::size_t floats = n + (n + 15) / 16 * 16 * P + 2 * P + P * (1 + V) + moments * n + packs;
  return sizeof(float) * floats + 64 * (6 + moments);
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

template <class F>
void SharedUpdate::run_segments(const Segments& segs, ThreadPool& pool, F&& f) {
  std::int64_t total = 0;
  for (const auto& [s0, s1] : segs) total += s1 - s0;
  pool.run([&](int tid, int nt) {
    auto [a, b] = split_range(total, tid, nt, 16);  // this thread's floats of the concatenation
    std::int64_t at = 0;
    for (const auto& [s0, s1] : segs) {
      const std::int64_t lo = std::max(a, at), hi = std::min(b, at + (s1 - s0));
      if (lo < hi) f(tid, s0 + (lo - at), s0 + (hi - at));
      at += s1 - s0;
    }
  });
}

double SharedUpdate::step(float lr, double clip, ThreadPool& pool) {
  const std::int64_t P = mem_.size(), me = mem_.rank();
  Timer t;
  mem_.barrier();  // every slot complete, every process's ids published
  sparse_ = true;
  for (std::int64_t p = 0; p < P; ++p)
    if (ids_[static_cast<std::size_t>(p) * static_cast<std::size_t>(1 + vocab_)] < 0) sparse_ = false;
  // the table rows this process sums: the touched ones with id = r mod P, or rows [v0, v1)
  rows_.clear();
  if (sparse_) {
    for (std::int64_t p = 0; p < P; ++p) {
      const std::int32_t* list = ids_ + static_cast<std::size_t>(p) * static_cast<std::size_t>(1 + vocab_);
      for (std::int32_t k = 0; k < list[0]; ++k) {
        const std::int32_t id = list[1 + k];
        if (id % P == me && !mark_[static_cast<std::size_t>(id)]) mark_[static_cast<std::size_t>(id)] = 1, rows_.push_back(id);
      }
    }
    for (std::int64_t id : rows_) mark_[static_cast<std::size_t>(id)] = 0;
    std::sort(rows_.begin(), rows_.end());
  }
  const auto e0 = static_cast<std::int64_t>(emb0_);
  auto table_rows = [&](Segments& segs, bool touched_only) {
    if (touched_only)
      for (std::int64_t id : rows_) segs.push_back({e0 + id * width_, e0 + (id + 1) * width_});
    else if (v0_ < v1_)
      segs.push_back({e0 + v0_ * width_, e0 + v1_ * width_});
  };
  sum_ = dense_;
  table_rows(sum_, sparse_);
  partial_.assign(static_cast<std::size_t>(pool.size()), 0.0);
  run_segments(sum_, pool, [&](int tid, std::int64_t s0, std::int64_t s1) {
    float* sum = slots_ + s0;
    for (std::int64_t p = 1; p < P; ++p) {  // and zero the other slots for their next backward
      float* g = slots_ + static_cast<std::size_t>(p) * stride_ + s0;
      for (std::int64_t i = 0; i < s1 - s0; ++i) sum[i] += g[i], g[i] = 0.0f;
    }
    partial_[static_cast<std::size_t>(tid)] += Optimizer::squared_sum(sum, 0, s1 - s0);
  });
  double mine = 0;
  for (double s : partial_) mine += s;
  squares_[me] = mine;
  mem_.barrier();  // every process's squares and sums
  double total = 0;
  for (std::int64_t p = 0; p < P; ++p) total += squares_[p];
  const double norm = std::sqrt(total);
  reduce_seconds_ += t.seconds();
  t.reset();
  opt_.begin_step();
  const float coef = clip_coefficient(norm, clip);
  // zero-gradient rows stay as they are under plain SGD (p - lr * (0 * coef) == p); not under
  // weight decay or Adam's moments: then this process updates its rows [v0, v1), whose sums
  // other processes may have made (the barrier above orders them)
  const bool rows_only = sparse_ && opt_.config().kind == OptimizerKind::Sgd && opt_.config().weight_decay == 0;
  update_ = dense_;
  table_rows(update_, rows_only);
  // then slot 0 is zeroed for its next backward, piece by piece while the piece is in cache; the
  // updated ranges cover every range a process summed into slot 0
  run_segments(update_, pool, [&](int, std::int64_t s0, std::int64_t s1) {
    for (std::int64_t c0 = s0; c0 < s1; c0 += 4096) {
      const std::int64_t c1 = std::min(s1, c0 + 4096);
      opt_.update(params_, slots_, lr, coef, c0, c1);
      std::memset(static_cast<void*>(slots_ + c0), 0, sizeof(float) * static_cast<std::size_t>(c1 - c0));
    }
  });
  mem_.barrier();  // every share updated before anyone's next forward (and before packing)
  if (prepacked_) {
    model_.pack_decoder(me, P, pool);
    mem_.barrier();
  }
  update_seconds_ += t.seconds();
  return norm;
}

}  // namespace wordlm

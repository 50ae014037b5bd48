// The AVX-512 elementwise kernels (elementwise_avx512.cpp) and the 4-bit GEMM (gemm4_avx512.cpp), included only by the *_avx512.cpp files
// (compiled with -mavx512*); the AVX-512 table (gemm_avx512.cpp) points at them.
#pragma once

#include <cstdint>

#include "kernels/kernels.hpp"

namespace wordlm::kernels::avx512 {

void exp(const float* x, float* y, std::int64_t n);
void tanh(const float* x, float* y, std::int64_t n);
void sigmoid(const float* x, float* y, std::int64_t n);
float max_sumexp(const float* x, std::int64_t n, float* mx);
void sumexp_lanes(const float* x, std::int64_t n, float* m, float* s);
float exp_sum(const float* x, std::int64_t n, float shift);
void exp_scale_store(float* x, std::int64_t n, float shift, float s);
void lstm_fwd(std::int64_t n, float* zi, float* zf, float* zg, float* zo, const float* c_prev, float* c, float* h,
              float* tc);
void lstm_bwd(std::int64_t n, float* ai, float* af, float* ag, float* ao, const float* c_prev, const float* tc,
              const float* dh, float* dc);
void lstm_fwd_blocked(std::int64_t units, const float* z, const float* c_prev, float* c, float* h);
bool minmax(const float* x, std::int64_t n, float* lo, float* hi);
void quantize_u7(const float* x, std::int64_t n, float inv_scale, std::int32_t zp, std::uint8_t* q);
// 4-bit grouped GEMM (gemm4_avx512.cpp)
void gemm4_i32(const Gemm4Args& a);
void gemm4_f32(const Gemm4Args& a);

}  // namespace wordlm::kernels::avx512

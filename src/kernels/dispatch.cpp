// Run-time ISA choice: CPUID (via the compiler's builtin) plus the WORDLM_FORCE_ISA override.
#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "kernels/kernels.hpp"

namespace wordlm::kernels {

const char* isa_name(Isa isa) noexcept { return isa == Isa::Avx2 ? "avx2" : "scalar"; }

bool cpu_has_avx2_fma() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

const Table& table(Isa isa) {
  if (isa == Isa::Scalar) return kScalarTable;
  const Table* t = avx2_table();
  if (!t || !cpu_has_avx2_fma()) throw_usage("this CPU (or build) cannot run the AVX2 kernels");
  return *t;
}

namespace {
const Table& choose() noexcept {
  const char* env = std::getenv("WORDLM_FORCE_ISA");
  std::string want = env ? env : "";
  if (want == "scalar" || want == "ref" || want == "reference") return kScalarTable;
  const Table* t = avx2_table();
  if (t && cpu_has_avx2_fma()) return *t;
  return kScalarTable;  // WORDLM_FORCE_ISA=avx2 on a CPU without it: fall back, reports say so
}
}  // namespace

const Table& active() noexcept {
  static const Table& t = choose();
  return t;
}

Isa active_isa() noexcept { return active().isa; }

}  // namespace wordlm::kernels

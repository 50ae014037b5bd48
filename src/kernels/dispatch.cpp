// Run-time ISA choice: CPUID (via the compiler's builtin) plus the WORDLM_FORCE_ISA override.
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/kernels.hpp"

namespace wordlm::kernels {

const char* isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    default: return "scalar";
  }
}

bool cpu_has_avx2_fma() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512_vnni() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

const Table& table(Isa isa) {
  if (isa == Isa::Scalar) return kScalarTable;
  if (isa == Isa::Avx512) {
    if (!cpu_has_avx512_vnni()) throw_usage("this CPU cannot run the AVX-512 VNNI kernels");
    return *avx512_table();
  }
  const Table* t = avx2_table();
  if (!t || !cpu_has_avx2_fma()) throw_usage("this CPU (or build) cannot run the AVX2 kernels");
  return *t;
}

std::vector<const Table*> available_tables() {
  std::vector<const Table*> out{&kScalarTable};
  if (cpu_has_avx2_fma() && avx2_table()) out.push_back(avx2_table());
  if (cpu_has_avx512_vnni()) out.push_back(avx512_table());
  return out;
}

namespace {
const Table& choose() noexcept {
  const char* env = std::getenv("WORDLM_FORCE_ISA");
  std::string want = env ? env : "";
  if (want == "scalar" || want == "ref" || want == "reference") return kScalarTable;
  if (want != "avx2" && cpu_has_avx512_vnni()) return *avx512_table();
  const Table* t = avx2_table();
  if (t && cpu_has_avx2_fma()) return *t;
  return kScalarTable;  // a forced table the CPU cannot run: the widest it can, reports say which
}
}  // namespace

const Table& active() noexcept {
  static const Table& t = choose();
  return t;
}

Isa active_isa() noexcept { return active().isa; }

}  // namespace wordlm::kernels

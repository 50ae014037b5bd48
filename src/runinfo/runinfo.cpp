// Run context for reports.
#include "runinfo/runinfo.hpp"

#include <ctime>
#include <fstream>

#include "core/buildinfo.hpp"
#include "kernels/kernels.hpp"
#include "nn/blas.hpp"

namespace wordlm {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) {
        auto v = line.substr(p + 1);
        v.erase(0, v.find_first_not_of(' '));
        return v;
      }
    }
  return "unknown";
}

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json build_info() {
  return {{"version", build::kVersion},       {"git_revision", build::kGitRevision},
          {"build_type", build::kBuildType},  {"compiler", build::kCompiler},
          {"sanitizers", build::kSanitizers}, {"native", build::kNative}};
}

nlohmann::json run_info(int threads) {
  return {{"build", build_info()},
          {"cpu", cpu_model()},
          {"kernel_isa", kernels::isa_name(kernels::active_isa())},
          {"openblas", {{"config", blas::openblas_config()}, {"core", blas::openblas_core()}, {"threads", blas::openblas_threads()}}},
          {"threads", threads},
          {"date", utc_timestamp()}};
}

std::string build_warning() {
  std::string w;
  const std::string bt = build::kBuildType;
  if (bt != "Release" && bt != "RelWithDebInfo") w += "this is a " + (bt.empty() ? std::string("non-optimized") : bt) + " build; ";
  if (build::kSanitizers) w += "built with sanitizers; ";
  if (!w.empty()) w = "timings are not representative: " + w.substr(0, w.size() - 2);
  return w;
}

std::string json_text(const nlohmann::json& j) { return j.dump(2) + "\n"; }

}  // namespace wordlm

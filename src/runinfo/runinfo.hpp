// The context every report carries (llama-bench's habit): build, CPU, kernel ISA, OpenBLAS,
// threads, date. Also JSON output helpers shared by the tools.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace wordlm {

std::string cpu_model();       // from /proc/cpuinfo, "unknown" if unreadable
std::string utc_timestamp();   // ISO 8601, e.g. 2026-11-25T19:37:51Z
nlohmann::json build_info();   // version, git revision, build type, compiler, sanitizers, native
nlohmann::json run_info(int threads);  // build_info + cpu, isa, openblas, threads, date
// Human warning when the binary is not an optimized build or runs with sanitizers ("" if fine).
std::string build_warning();
// Pretty JSON text ending in a newline.
std::string json_text(const nlohmann::json& j);

}  // namespace wordlm

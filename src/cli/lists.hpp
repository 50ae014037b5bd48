// llama-bench style integer lists for the command line: "1,8,32", ranges "1-5" (step 1),
// "1-32+8" (additive step), "1-64*2" (multiplicative step), and any mix separated by commas.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wordlm::cli {

// Throws Usage naming the bad element. Values must be >= min_value.
std::vector<std::int64_t> parse_int_list(const std::string& s, const char* what, std::int64_t min_value = 1);

// A comma list of names, each one of `allowed` ("all" expands to every allowed name). Throws
// Usage naming the unknown element and the allowed ones.
std::vector<std::string> parse_name_list(const std::string& s, const char* what, const std::vector<std::string>& allowed,
                                         const char* noun = "name");

}  // namespace wordlm::cli

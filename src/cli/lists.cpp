// Integer list parsing.
#include "cli/lists.hpp"

#include <algorithm>
#include <charconv>

#include "core/error.hpp"

namespace wordlm::cli {

namespace {
std::int64_t to_int(const std::string& s, const char* what) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    throw_usage(std::string(what) + ": '" + s + "' is not an integer");
  return v;
}
}  // namespace

std::vector<std::int64_t> parse_int_list(const std::string& s, const char* what, std::int64_t min_value) {
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    const std::string item = s.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) throw_usage(std::string(what) + ": empty element in '" + s + "'");
    const auto dash = item.find('-', 1);
    if (dash == std::string::npos) {
      out.push_back(to_int(item, what));
    } else {
      const std::int64_t first = to_int(item.substr(0, dash), what);
      std::string rest = item.substr(dash + 1);
      char op = '+';
      std::int64_t step = 1;
      if (auto k = rest.find_first_of("+*"); k != std::string::npos) {
        op = rest[k];
        step = to_int(rest.substr(k + 1), what);
        rest = rest.substr(0, k);
      }
      const std::int64_t last = to_int(rest, what);
      if (last < first) throw_usage(std::string(what) + ": range '" + item + "' ends before it starts");
      if ((op == '+' && step < 1) || (op == '*' && step < 2))
        throw_usage(std::string(what) + ": range '" + item + "' has a step that never advances");
      if (op == '*' && first < 1)
        throw_usage(std::string(what) + ": range '" + item + "' multiplies from " + std::to_string(first) +
                    ": a geometric range starts at 1 or more");
      for (std::int64_t v = first;;) {
        out.push_back(v);
        if (out.size() > 10000) throw_usage(std::string(what) + ": range '" + item + "' is too long");
        // the next value, without overflowing: stop when it would pass `last`
        if (op == '+' ? v > last - step : v > last / step) break;
        v = op == '+' ? v + step : v * step;
      }
    }
    if (comma == s.size()) break;
  }
  for (auto v : out)
    if (v < min_value) throw_usage(std::string(what) + ": " + std::to_string(v) + " is below " + std::to_string(min_value));
  return out;
}

std::vector<std::string> parse_name_list(const std::string& s, const char* what, const std::vector<std::string>& allowed,
                                         const char* noun) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    const std::string item = s.substr(pos, comma - pos);
    pos = comma + 1;
    if (item == "all") {
      out.insert(out.end(), allowed.begin(), allowed.end());
    } else if (std::find(allowed.begin(), allowed.end(), item) != allowed.end()) {
      out.push_back(item);
    } else {
      std::string known;
      for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
      throw_usage(std::string(what) + ": unknown " + noun + " '" + item + "' (" + known + ", all)");
    }
    if (comma == s.size()) break;
  }
  return out;
}

}  // namespace wordlm::cli

// Brown corpus conversion.
#include "data/brown.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/sha256.hpp"
#include "data/lines.hpp"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace wordlm {

namespace {
bool is_number_token(std::string_view w) {
  // digits with separators ("1,000", "3.5", "10:30", "1/2", "$5", "50%"), and ordinals/decades
  // ("1st", "22nd", "1920s", "1920's")
  bool digit = false;
  std::size_t i = 0;
  while (i < w.size() && (std::isdigit(static_cast<unsigned char>(w[i])) || std::string_view(".,:/-$%+").find(w[i]) != std::string_view::npos)) {
    digit |= std::isdigit(static_cast<unsigned char>(w[i])) != 0;
    ++i;
  }
  if (!digit) return false;
  const std::string_view rest = w.substr(i);
  return rest.empty() || rest == "st" || rest == "nd" || rest == "rd" || rest == "th" || rest == "s" || rest == "'s";
}
}  // namespace

std::string brown_word(std::string_view tagged) {
  const auto slash = tagged.rfind('/');
  std::string_view w = slash == std::string_view::npos || slash == 0 ? tagged : tagged.substr(0, slash);
  std::string out(w);
  bool alnum = false;
  for (auto& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) alnum = true;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!alnum) return "";
  if (is_number_token(out)) return "N";
  return out;
}

nlohmann::json prepare_brown(const std::string& src_dir, const std::string& out_dir, const BrownOptions& opts) {
  namespace fs = std::filesystem;
  if (opts.vocab < 3) throw_usage("--vocab must be at least 3");
  std::error_code ec;
  if (!fs::is_directory(src_dir, ec)) throw Error(ErrorKind::NoInput, "Brown corpus folder " + src_dir + " does not exist");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(src_dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() == 4 && n[0] == 'c' && n[1] >= 'a' && n[1] <= 'r' && std::isdigit(static_cast<unsigned char>(n[2])) &&
        std::isdigit(static_cast<unsigned char>(n[3])))
      files.push_back(n);
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw_data(src_dir + ": no Brown corpus documents (files named like ca01 .. cr09)");

  using Sentence = std::vector<std::string>;
  const char* names[3] = {"train", "valid", "test"};
  std::vector<Sentence> splits[3];
  std::int64_t docs[3] = {0, 0, 0};
  for (std::size_t i = 0; i < files.size(); ++i) {
    const int s = i % 10 == 8 ? 1 : i % 10 == 9 ? 2 : 0;
    ++docs[s];
    const std::string text = read_text_file((fs::path(src_dir) / files[i]).string());
    std::size_t pos = 0;
    std::int64_t lineno = 0;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string_view line(text.data() + pos, end - pos);
      pos = end + 1;
      ++lineno;  // the corpus written must be one every tool reads: the same byte rules
      if (const auto bad = line_problem(line))
        throw_data(fmt::format("{}:{}:{}: {}", (fs::path(src_dir) / files[i]).string(), lineno, bad->column, bad->what));
      Sentence sent;
      std::size_t k = 0;
      while (k < line.size()) {
        while (k < line.size() && std::isspace(static_cast<unsigned char>(line[k]))) ++k;
        std::size_t b = k;
        while (k < line.size() && !std::isspace(static_cast<unsigned char>(line[k]))) ++k;
        if (k > b) {
          std::string w = brown_word(line.substr(b, k - b));
          if (!w.empty()) sent.push_back(std::move(w));
        }
      }
      if (!sent.empty()) splits[s].push_back(std::move(sent));
    }
  }
  // vocabulary from train: most frequent first, ties in byte order
  std::unordered_map<std::string, std::int64_t> counts;
  for (const auto& sent : splits[0])
    for (const auto& w : sent) ++counts[w];
  std::vector<std::pair<std::string, std::int64_t>> order(counts.begin(), counts.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  const std::size_t keep_n = std::min<std::size_t>(order.size(), static_cast<std::size_t>(opts.vocab - 2));
  std::unordered_map<std::string, bool> keep;
  for (std::size_t i = 0; i < keep_n; ++i) keep[order[i].first] = true;

  fs::create_directories(out_dir, ec);
  if (ec) throw Error(ErrorKind::CantCreate, "cannot create " + out_dir + ": " + ec.message());
  nlohmann::json result = {{"source", src_dir}, {"documents", files.size()}, {"vocab", keep_n + 2}, {"splits", nlohmann::json::object()}};
  for (int s = 0; s < 3; ++s) {
    std::string out;
    std::int64_t tokens = 0, unk = 0;
    for (const auto& sent : splits[s]) {
      for (std::size_t i = 0; i < sent.size(); ++i) {
        if (i) out += ' ';
        const bool known = keep.count(sent[i]) > 0;
        out += known ? sent[i] : "<unk>";
        unk += !known;
      }
      out += '\n';
      tokens += static_cast<std::int64_t>(sent.size()) + 1;  // + <eos>
    }
    const std::string path = (fs::path(out_dir) / (std::string(names[s]) + ".txt")).string();
    write_file_atomic(path, out);
    result["splits"][names[s]] = {{"documents", docs[s]},
                                  {"lines", splits[s].size()},
                                  {"tokens", tokens},
                                  {"unk", unk},
                                  {"bytes", out.size()},
                                  {"sha256", sha256_hex(out)}};
  }
  return result;
}

}  // namespace wordlm

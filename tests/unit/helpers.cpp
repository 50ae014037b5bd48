// Test helper implementations.
#include "helpers.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <random>

namespace wordlm::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "wordlm-test-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  if (!p) throw std::runtime_error("mkdtemp failed");
  p_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(p_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  auto path = p_ / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary);
  f << content;
  return path.string();
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return -1;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
    if (out) out->append(buf.data(), n);
  int st = ::pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace wordlm::test

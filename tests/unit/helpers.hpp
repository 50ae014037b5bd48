// Shared test helpers: temporary directories, writing small files, paths to committed data.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace wordlm::test {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return p_; }
  std::string file(const std::string& name) const { return (p_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path p_;
};

inline std::string source_dir() { return WORDLM_SOURCE_DIR; }
inline std::string shared_dir() { return WORDLM_SHARED_DIR; }
inline std::string binary_dir() { return WORDLM_BINARY_DIR; }

// Runs a shell command, returns its exit status (0..255) and stdout.
int run_command(const std::string& cmd, std::string* out = nullptr);

}  // namespace wordlm::test

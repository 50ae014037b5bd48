// File helpers with clear errors: whole-file reads for small inputs, and AtomicFile, the only way
// wordlm writes a result: a temporary file in the target's directory, fsync, rename, fsync of the
// directory. A crash, kill or full disk at any moment leaves either the old file or the new one,
// never a torn one, and a failed write removes its temporary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wordlm {

// Reads a whole regular file (throws NoInput if missing/unreadable/not a regular file, Io on a
// read failure). Meant for small files (reports, JSON).
std::string read_text_file(const std::string& path);

// True when both paths name the same existing file (same device and inode).
bool same_file(const std::string& a, const std::string& b);
// same_file, or (for files not written yet) the same path once "..", "." and links are resolved.
bool same_path(const std::string& a, const std::string& b);
// Throws CantCreate unless a file can be created at `path`: its directory exists and is writable
// and `path` is not a directory. Tools call it before long work, so that a typo in an output path
// does not cost a training run; AtomicFile checks the same again when it writes.
void check_can_create(const std::string& path);
bool file_exists(const std::string& path);
std::int64_t file_size(const std::string& path);  // -1 if it cannot be stat'ed

class AtomicFile {
 public:
  // Creates the temporary next to `path`. Throws CantCreate (missing or read-only directory,
  // path is a directory).
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();  // not committed -> the temporary is removed

  void write(const void* data, std::size_t n);  // throws Io (ENOSPC, EIO, ...), temp removed
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();  // fsync + rename + directory fsync; throws Io
  const std::string& path() const { return path_; }
  std::uint64_t bytes_written() const { return written_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  std::string path_, tmp_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
  bool committed_ = false;
};

// Writes `content` to `path` atomically ("-" means stdout, written directly).
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace wordlm

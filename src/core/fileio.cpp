// POSIX implementation of the file helpers (open/write/fsync/rename; no stdio buffering so that
// every error surfaces at the call that caused it).
#include "core/fileio.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace wordlm {

namespace {
std::string errstr(int e) { return std::strerror(e); }

std::string dir_of(const std::string& path) {
  auto p = std::filesystem::path(path).parent_path().string();
  return p.empty() ? "." : p;
}
}  // namespace

std::string read_text_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::NoInput, path + ": cannot open: " + errstr(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorKind::NoInput, path + ": not a regular file");
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw Error(ErrorKind::Io, path + ": read error: " + errstr(e));
    }
    if (r == 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return out;
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_size);
}

bool same_path(const std::string& a, const std::string& b) {
  if (same_file(a, b)) return true;
  std::error_code ea, eb;
  const auto ca = std::filesystem::weakly_canonical(a, ea), cb = std::filesystem::weakly_canonical(b, eb);
  return !ea && !eb && ca == cb;
}

void check_can_create(const std::string& path) {
  if (path.empty()) throw Error(ErrorKind::CantCreate, "empty output path");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(ErrorKind::CantCreate, path + ": is a directory");
  const std::string dir = dir_of(path);
  struct stat dst {};
  if (::stat(dir.c_str(), &dst) != 0)
    throw Error(ErrorKind::CantCreate, path + ": directory " + dir + " does not exist");
  if (!S_ISDIR(dst.st_mode)) throw Error(ErrorKind::CantCreate, path + ": " + dir + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int e = errno;
    throw Error(ErrorKind::CantCreate, path + ": cannot create a file in " + dir + ": " + errstr(e));
  }
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  check_can_create(path_);
  const std::string dir = dir_of(path_);
  std::string base = std::filesystem::path(path_).filename().string();
  tmp_ = dir + "/." + base + ".XXXXXX";
  fd_ = ::mkstemp(tmp_.data());
  if (fd_ < 0) {
    int e = errno;
    throw Error(ErrorKind::CantCreate, path_ + ": cannot create a file in " + dir + ": " + errstr(e));
  }
  ::fchmod(fd_, 0644);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  tmp_.clear();
  throw Error(ErrorKind::Io, path_ + ": " + what + ": " + errstr(err) + " (nothing was written; any previous file is intact)");
}

void AtomicFile::write(const void* data, std::size_t n) {
  if (fd_ < 0) throw Error(ErrorKind::Io, path_ + ": write after failure or commit");
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    if (w == 0) fail("write failed", EIO);
    p += w, n -= static_cast<std::size_t>(w), written_ += static_cast<std::uint64_t>(w);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw Error(ErrorKind::Io, path_ + ": commit after failure");
  if (::fsync(fd_) != 0) fail("fsync failed", errno);
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail("close failed", errno);
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("rename failed", errno);
  committed_ = true;
  int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: some file systems refuse fsync on directories
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view content) {
  if (path == "-") {
    const char* p = content.data();
    std::size_t n = content.size();
    while (n > 0) {
      ssize_t w = ::write(STDOUT_FILENO, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorKind::Io, std::string("stdout: write failed: ") + errstr(errno));
      }
      p += w, n -= static_cast<std::size_t>(w);
    }
    return;
  }
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

}  // namespace wordlm

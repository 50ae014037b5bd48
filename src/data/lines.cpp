// LineReader: a block reader that splits \n, \r\n and \r line ends (a \r at a block end waits for
// the next block to rule out \r\n), as the corpus tokenizer does.
#include "data/lines.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "data/tokenizer.hpp"

namespace wordlm {

namespace {
constexpr std::size_t kBlock = 1 << 20;

std::string hex_byte(unsigned b) {
  const char* d = "0123456789abcdef";
  return {d[(b >> 4) & 15], d[b & 15]};
}
}  // namespace

std::optional<LineProblem> line_problem(std::string_view s) {
  if (const auto nul = s.find('\0'); nul != std::string_view::npos) return LineProblem{nul + 1, "NUL byte"};
  if (const auto bad = utf8::first_invalid(s); bad != std::string_view::npos)
    return LineProblem{bad + 1, "invalid UTF-8 (byte 0x" + hex_byte(static_cast<unsigned char>(s[bad])) + ")"};
  return std::nullopt;
}

LineReader::LineReader(const std::string& path) {
  if (path == "-") {
    name_ = "<stdin>";
    fd_ = 0;
    return;
  }
  name_ = path;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    throw CorpusError(CorpusErrc::MissingFile, ErrorKind::NoInput, path + ": cannot open: " + std::strerror(errno));
  own_fd_ = true;
  struct stat sb {};  // pipes and process substitutions are fine; a folder is not a text
  if (::fstat(fd_, &sb) == 0 && S_ISDIR(sb.st_mode))
    throw CorpusError(CorpusErrc::MissingFile, ErrorKind::NoInput, path + ": is a directory, not a text file");
}

LineReader::~LineReader() {
  if (own_fd_) ::close(fd_);
}

bool LineReader::fill() {
  if (eof_) return false;
  if (pos_ > 0) {  // keep the unfinished line at the front
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (buf_.size() < end_ + kBlock) buf_.resize(end_ + kBlock);
  for (;;) {
    const ssize_t r = ::read(fd_, buf_.data() + end_, kBlock);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw CorpusError(CorpusErrc::ReadError, ErrorKind::Io, name_ + ": read error: " + std::strerror(errno));
    }
    if (r == 0) {
      eof_ = true;
      return false;
    }
    end_ += static_cast<std::size_t>(r);
    return true;
  }
}

bool LineReader::next(std::string& line) {
  std::size_t scan = pos_;
  for (;;) {
    for (std::size_t i = scan; i < end_; ++i) {
      const char c = buf_[i];
      if (c != '\n' && c != '\r') continue;
      if (c == '\r' && i + 1 == end_ && !eof_) {  // \r at the block end: is it \r\n?
        scan = i;
        goto more;
      }
      line.assign(buf_.data() + pos_, i - pos_);
      pos_ = i + 1 + (c == '\r' && i + 1 < end_ && buf_[i + 1] == '\n');
      goto got;
    }
    scan = end_;
  more:
    {
      const std::size_t scanned = scan - pos_;
      if (fill()) {
        scan = pos_ + scanned;
        continue;
      }
    }
    if (pos_ == end_) return false;
    {
      // the last line has no terminator; a lone \r at EOF ends it too
      std::size_t n = end_ - pos_;
      if (buf_[end_ - 1] == '\r') --n;
      line.assign(buf_.data() + pos_, n);
      pos_ = end_;
    }
  got:
    if (++line_no_ == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    return true;
  }
}

}  // namespace wordlm

// Chunked line splitter + per-line validation and whitespace splitting. A line is processed only
// once its terminator is known (a \r at a chunk end waits for the next chunk to rule out \r\n).
#include "data/tokenizer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/sha256.hpp"
#include "core/utf8.hpp"
#include "data/lines.hpp"

namespace wordlm {

namespace {

constexpr std::size_t kChunk = 1 << 20;

class LineSink {
 public:
  LineSink(const std::string& name, const TokenizeOptions& opts,
           const std::function<void(std::string_view)>& on_token, const std::function<void()>& on_eol,
           FileStats& st)
      : name_(name), opts_(opts), on_token_(on_token), on_eol_(on_eol), st_(st) {}

  void line(std::string_view s) {
    ++st_.lines;
    if (st_.lines == 1 && s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
    // the one splitter (data/lines.hpp) that lm-score and lm-generate use too
    if (auto bad = for_each_word(s, [this](std::string_view w) { emit(w); })) {
      const bool nul = bad->what == "NUL byte";
      throw CorpusError(nul ? CorpusErrc::NulByte : CorpusErrc::InvalidUtf8, ErrorKind::Data,
                        name_ + ":" + std::to_string(st_.lines) + ":" + std::to_string(bad->column) + ": " +
                            (nul ? std::string("NUL byte in text") : bad->what));
    }
    on_eol_();
  }

 private:
  void emit(std::string_view w) {
    ++st_.tokens;
    if (!opts_.lowercase) {
      on_token_(w);
      return;
    }
    lower_.assign(w);
    for (auto& c : lower_)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    on_token_(lower_);
  }

  const std::string& name_;
  const TokenizeOptions& opts_;
  const std::function<void(std::string_view)>& on_token_;
  const std::function<void()>& on_eol_;
  FileStats& st_;
  std::string lower_;
};

// Feeds every complete line of buf[0..n) to sink; returns the number of bytes consumed.
// With at_eof, the final unterminated segment is a line too (if non-empty). `from` says where
// the scan may start: bytes before it are known to hold no line end (so a line longer than the
// read chunk is scanned once, not once per chunk).
std::size_t drain_lines(const char* buf, std::size_t n, bool at_eof, LineSink& sink, std::size_t from = 0) {
  std::size_t start = 0;
  for (std::size_t i = from; i < n; ++i) {
    const char c = buf[i];
    if (c == '\n') {
      sink.line({buf + start, i - start});
      start = i + 1;
    } else if (c == '\r') {
      if (i + 1 < n) {
        sink.line({buf + start, i - start});
        if (buf[i + 1] == '\n') ++i;
        start = i + 1;
      } else if (at_eof) {
        sink.line({buf + start, i - start});
        start = i + 1;
      } else {
        return start;  // need the next byte to know if this is \r\n
      }
    }
  }
  if (at_eof && start < n) {
    sink.line({buf + start, n - start});
    start = n;
  }
  return start;
}

}  // namespace

FileStats tokenize_text(std::string_view text, const std::string& name, const TokenizeOptions& opts,
                        const std::function<void(std::string_view)>& on_token,
                        const std::function<void()>& on_eol) {
  FileStats st;
  st.bytes = static_cast<std::int64_t>(text.size());
  st.sha256 = sha256_hex(text);
  LineSink sink(name, opts, on_token, on_eol, st);
  drain_lines(text.data(), text.size(), true, sink);
  return st;
}

FileStats tokenize_file(const std::string& path, const TokenizeOptions& opts,
                        const std::function<void(std::string_view)>& on_token,
                        const std::function<void()>& on_eol) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw CorpusError(CorpusErrc::MissingFile, ErrorKind::NoInput, path + ": cannot open: " + std::strerror(errno));
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    throw CorpusError(CorpusErrc::MissingFile, ErrorKind::NoInput, path + ": not a regular file");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  FileStats st;
  Sha256 hash;
  LineSink sink(path, opts, on_token, on_eol, st);
  std::string buf;
  std::size_t have = 0;     // bytes of buf holding unconsumed data
  std::size_t scanned = 0;  // bytes of buf known to hold no line end
  for (;;) {
    if (buf.size() < have + kChunk) buf.resize(have + kChunk);
    ssize_t r = ::read(fd, buf.data() + have, kChunk);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw CorpusError(CorpusErrc::ReadError, ErrorKind::Io, path + ": read error: " + std::strerror(errno));
    }
    const bool eof = r == 0;
    hash.update(buf.data() + have, static_cast<std::size_t>(r));
    st.bytes += r;
    have += static_cast<std::size_t>(r);
    std::size_t used = drain_lines(buf.data(), have, eof, sink, scanned);
    if (used > 0) {
      std::memmove(buf.data(), buf.data() + used, have - used);
      have -= used;
    }
    // what is left is one unfinished line; re-check only its last byte (a '\r' awaiting '\n')
    scanned = have > 0 ? have - 1 : 0;
    if (eof) break;
  }
  st.sha256 = hash.hex();
  return st;
}

}  // namespace wordlm

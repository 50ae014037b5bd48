// wordlm's one error type, shared by the library and its public API. Every failure carries a
// kind, and the kind alone decides a tool's exit code (sysexits.h numbers).
#pragma once

#include <stdexcept>
#include <string>

namespace wordlm {

enum class ErrorKind {
  Usage,        // bad command line or argument value           -> 64 (EX_USAGE)
  Data,         // malformed input file or content              -> 65 (EX_DATAERR)
  NoInput,      // input file missing or unreadable             -> 66 (EX_NOINPUT)
  Internal,     // a bug: an invariant did not hold             -> 70 (EX_SOFTWARE)
  CantCreate,   // output cannot be created                     -> 73 (EX_CANTCREAT)
  Io,           // read/write failed midway (disk full, EIO)    -> 74 (EX_IOERR)
  CheckFailed,  // a requested threshold was not met (--max-ppl) -> 1
  Diverged,     // training produced NaN/Inf                    -> 3
  Interrupted,  // SIGINT/SIGTERM in a tool that cannot finish early -> 130
  OutOfMemory,  // the system could not give the memory asked for -> 71 (EX_OSERR; not a bug)
};

int exit_code(ErrorKind kind) noexcept;
const char* kind_name(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace wordlm

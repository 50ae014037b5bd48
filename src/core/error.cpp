// Exit-code mapping for ErrorKind; the single table the README's exit-code section documents.
#include "core/error.hpp"

namespace wordlm {

int exit_code(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::Usage: return 64;
    case ErrorKind::Data: return 65;
    case ErrorKind::NoInput: return 66;
    case ErrorKind::Internal: return 70;
    case ErrorKind::CantCreate: return 73;
    case ErrorKind::Io: return 74;
    case ErrorKind::CheckFailed: return 1;
    case ErrorKind::Diverged: return 3;
    case ErrorKind::Interrupted: return 130;
    case ErrorKind::OutOfMemory: return 71;
  }
  return 70;
}

const char* kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::Usage: return "usage error";
    case ErrorKind::Data: return "data error";
    case ErrorKind::NoInput: return "cannot open input";
    case ErrorKind::Internal: return "internal error";
    case ErrorKind::CantCreate: return "cannot create output";
    case ErrorKind::Io: return "I/O error";
    case ErrorKind::CheckFailed: return "check failed";
    case ErrorKind::Diverged: return "diverged";
    case ErrorKind::Interrupted: return "interrupted";
    case ErrorKind::OutOfMemory: return "out of memory";
  }
  return "error";
}

void throw_usage(const std::string& what) { throw Error(ErrorKind::Usage, what); }
void throw_data(const std::string& what) { throw Error(ErrorKind::Data, what); }
void throw_internal(const std::string& what) { throw Error(ErrorKind::Internal, what); }

}  // namespace wordlm

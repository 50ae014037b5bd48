// The one error type of the library. Every failure carries a kind, and the kind alone decides the
// process exit code (sysexits.h numbers), so the apps never pick codes case by case and nothing
// below the apps calls exit(). Subsystems derive their own error types with a precise code
// (CheckpointError, CorpusError) so tests can assert *which* rejection happened.
#pragma once

#include <string>

#include "wordlm/error.hpp"  // ErrorKind, Error, exit_code (public: applications catch it too)

namespace wordlm {

// Shorthands used throughout the library.
[[noreturn]] void throw_usage(const std::string& what);
[[noreturn]] void throw_data(const std::string& what);
[[noreturn]] void throw_internal(const std::string& what);

// Internal invariant check that survives release builds (cheap conditions only).
#define WORDLM_CHECK(cond, msg)                                                          \
  do {                                                                                   \
    if (!(cond)) ::wordlm::throw_internal(std::string(__FILE__) + ":" +                  \
                                          std::to_string(__LINE__) + ": " + (msg));      \
  } while (0)

}  // namespace wordlm

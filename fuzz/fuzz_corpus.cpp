// libFuzzer entry: the corpus reader with a round-trip invariant (see targets.hpp).
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wordlm::fuzz::corpus_one(data, size);
  return 0;
}

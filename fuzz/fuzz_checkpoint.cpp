// libFuzzer entry: the checkpoint reader end to end (see targets.hpp).
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wordlm::fuzz::checkpoint_one(data, size);
  return 0;
}

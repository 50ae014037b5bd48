// Is this process part of an MPI job? The launchers' environment variables say so, before
// (and without) initialising MPI.
#include <cstdlib>
#include <string>

#include "dist/session.hpp"

namespace wordlm::dist {

int Session::launched_processes() noexcept {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(var)) {
      const int n = std::atoi(v);
      return n > 0 ? n : -1;
    }
  return std::getenv("PMIX_RANK") || std::getenv("PMI_RANK") ? -1 : 0;
}

}  // namespace wordlm::dist

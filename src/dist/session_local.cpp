// The Session of a build without MPI (WORDLM_MPI off): always one process alone.
#include <string>

#include "core/error.hpp"
#include "dist/session.hpp"

namespace wordlm::dist {

struct Session::Impl {
  Collective alone;
};

Session::Session(int* argc, char*** argv) : impl_(std::make_unique<Impl>()) { (void)argc, (void)argv; }
Session::~Session() = default;

Collective& Session::collective() {
  if (const int n = launched_processes(); n > 1)
    throw_usage("started by an MPI launcher as " + std::to_string(n) +
                " processes, but this build has no MPI: each process would train alone and overwrite the others' "
                "files. Rebuild with -DWORDLM_MPI=ON (Debian: libopenmpi-dev), or run one process without mpirun");
  return impl_->alone;
}

std::string Session::mpi_version() const { return ""; }
int Session::finish(int rc) { return rc; }
bool Session::built_with_mpi() noexcept { return false; }

}  // namespace wordlm::dist

// How a process joins a data-parallel run. lm-train creates one Session first thing in main():
// when an MPI launcher started the process (mpirun sets OMPI_COMM_WORLD_SIZE; MPICH's and
// Slurm's launchers PMI_SIZE or PMIX_RANK), the Session initialises MPI and collective() is the
// ranks of the job; otherwise the process is alone and MPI is never touched, so a plain
// `lm-train ...` behaves exactly as in a build without MPI. A build without MPI (WORDLM_MPI
// off) refuses to run as several processes under a launcher, rather than letting each copy train
// alone and overwrite the others' files.
//
// Failure: finish(rc) finalizes MPI only after success. After an error a process leaves without
// finalizing (a peer may be waiting in a collective, and MPI_Finalize would wait for it); the
// launcher sees a process exit with a non-zero status and stops the others.
#pragma once

#include <memory>
#include <string>

#include "core/collective.hpp"

namespace wordlm::dist {

class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The processes of this run (one unless launched by MPI). Throws Usage when a launcher started
  // several processes but this build has no MPI.
  Collective& collective();
  // Processes of the run on this machine (1 alone): a node's cores are shared among them.
  int local_processes() const noexcept { return local_; }
  // "Open MPI v4.1.4, ..." when MPI is running, else "".
  std::string mpi_version() const;
  // The exit status for main() to return; finalizes MPI when rc == 0.
  int finish(int rc);

  static bool built_with_mpi() noexcept;
  // Processes an MPI launcher started for this job, from its environment: 0 when none started
  // this one, -1 when one did but did not say how many (PMIx without a size).
  static int launched_processes() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int local_ = 1;
};

}  // namespace wordlm::dist

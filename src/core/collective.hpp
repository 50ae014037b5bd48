// Collective: what the processes of a data-parallel run do together (sums, gathers, broadcasts),
// as MPI's collectives do. Every process must call the same operations in the same order. This
// base class is one process alone: a sum returns its input, a gather copies. The MPI one lives in
// src/dist/ (built with WORDLM_MPI); the tests run an in-process one over threads. Nothing here
// knows about networks or MPI: this is the interface the trainer and the tools program against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <functional>
#include <string>
#include <vector>

namespace wordlm {

// Memory that the processes of one machine map together (MPI-3 shared windows), so that
// data-parallel processes on one machine can keep one copy of the parameters and read each
// other's gradients in place instead of sending them (train/shared_update.hpp).
class NodeMemory {
 public:
  virtual ~NodeMemory() = default;
  virtual int rank() const noexcept = 0;  // this process among the machine's, 0 .. size() - 1
  virtual int size() const noexcept = 0;
  // Collective over the machine's processes: n zeroed floats, the same memory in each of them,
  // 64-byte aligned, valid as long as this object.
  virtual float* allocate(std::size_t n) = 0;
  // Collective: returns once every process of the machine has called it; what any of them wrote
  // to the memory before is visible to all after.
  virtual void barrier() = 0;
  // Bytes that allocate() can still get (where the MPI library keeps its shared segments: /dev/shm,
  // which containers often keep small; SIZE_MAX when unknown). The same on every process.
  virtual std::size_t available_bytes() const { return SIZE_MAX; }
};

class Collective {
 public:
  virtual ~Collective() = default;

  virtual int rank() const noexcept { return 0; }  // this process, 0 .. size() - 1
  virtual int size() const noexcept { return 1; }  // processes in the run

  // Element-wise sum over all processes, in place; every process receives the same bits.
  virtual void sum(float* v, std::size_t n);
  virtual void sum(double* v, std::size_t n);
  // The maximum and the bitwise OR over all processes (checks compare the max and the min).
  virtual std::uint64_t max(std::uint64_t v);
  virtual std::uint64_t bit_or(std::uint64_t v);
  // bytes [0, n) of process `root` to every process.
  virtual void broadcast(void* data, std::size_t n, int root);
  // all = every process's n bytes, in rank order (size() * n bytes).
  virtual void gather(const void* mine, std::size_t n, void* all);
  // all = every process's block in rank order, where process r gives counts[r] bytes (every
  // process passes the same counts, e.g. from a gather() of the sizes).
  virtual void gather(const void* mine, const std::vector<std::size_t>& counts, void* all);

  // Every process of the run on this machine, sharing memory: null unless the run has several
  // processes and all of them are on this machine (the base: one process alone, null).
  virtual NodeMemory* node_memory() { return nullptr; }

  std::uint64_t min(std::uint64_t v) { return ~max(~v); }
  // process root's string to every process
  void broadcast(std::string& s, int root);
};

// Runs fn on every process. If it throws on any of them, every process throws: Error with the
// kind of the lowest-ranked failure and its message prefixed by "rank R of N: ", so that all
// processes stop together, with the same exit code, and none waits forever for a failed peer.
// Use it around what one process can fail alone (reading the corpus, a resume file).
void all_or_none(Collective& c, const std::function<void()>& fn);

}  // namespace wordlm

// The Session of a build with MPI: MPI_Init_thread (FUNNELED: only the thread that calls the
// trainer talks to MPI; the thread pool's workers never do) when a launcher started the process,
// and MpiCollective, which maps the Collective operations one to one onto MPI collectives on a
// private duplicate of MPI_COMM_WORLD. MPI's default error handler stays: an MPI failure aborts
// the whole job with MPI's own message, which is what a run that lost a peer must do anyway.
//
// Sums and broadcasts go in pieces of at most 4 MiB (WORDLM_MPI_CHUNK_MB overrides; 0 = whole):
// Open MPI 4.1 over shared memory (vader) falls off a cliff above ~16 MB per call: a 79 MB
// allreduce of 2 ranks here took 334 ms whole and 39 ms in 4 MB pieces (docs/scaling.md). Across
// machines larger pieces save per-call latency.
//
// When every process of the run is on this machine, node_memory() offers MPI-3 shared windows, in
// which lm-train keeps one copy of the parameters (train/shared_update.hpp).
#include <mpi.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "dist/session.hpp"

namespace wordlm::dist {

namespace {

// bytes per MPI call (a multiple of 8)
std::size_t chunk_bytes() {
  std::size_t mb = 4;
  if (const char* v = std::getenv("WORDLM_MPI_CHUNK_MB"); v && *v) mb = static_cast<std::size_t>(std::strtoull(v, nullptr, 10));
  return mb == 0 ? std::size_t(1) << 30 : std::min<std::size_t>(mb, 1024) << 20;
}

// MPI-3 shared windows of the processes on one machine (MPI_Win_allocate_shared on the
// MPI_COMM_TYPE_SHARED communicator): the machine's first process allocates each block, the others
// map it (MPI_Win_shared_query); barrier() is MPI's passive-target idiom (Win_sync, Barrier,
// Win_sync) over every window, which orders the processes' writes before each other's reads.
class MpiNodeMemory : public NodeMemory {
 public:
  explicit MpiNodeMemory(MPI_Comm node) : node_(node) {
    MPI_Comm_rank(node_, &rank_);
    MPI_Comm_size(node_, &size_);
  }
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  float* allocate(std::size_t n) override {
    const std::size_t bytes = sizeof(float) * n + 64;  // room to align the start to 64 bytes
    void* mine = nullptr;
    MPI_Win win;
    MPI_Win_allocate_shared(static_cast<MPI_Aint>(rank_ == 0 ? bytes : 0), 1, MPI_INFO_NULL, node_, &mine, &win);
    MPI_Aint size = 0;
    int unit = 0;
    void* base = nullptr;
    MPI_Win_shared_query(win, 0, &size, &unit, &base);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    wins_.push_back(win);
    const auto at = (reinterpret_cast<std::uintptr_t>(base) + 63) / 64 * 64;
    auto* p = reinterpret_cast<float*>(at);
    if (rank_ == 0) std::memset(static_cast<void*>(p), 0, sizeof(float) * n);
    barrier();
    return p;
  }
  // Open MPI's osc/sm backs the windows with files in /dev/shm (seen: /dev/shm/osc_sm.*); a
  // window larger than its free space would fail with SIGBUS on first touch, so the caller asks.
  std::size_t available_bytes() const override {
    struct statvfs fs {};
    if (statvfs("/dev/shm", &fs) != 0) return SIZE_MAX;
    return static_cast<std::size_t>(fs.f_bavail) * static_cast<std::size_t>(fs.f_frsize);
  }
  void barrier() override {
    for (MPI_Win w : wins_) MPI_Win_sync(w);
    MPI_Barrier(node_);
    for (MPI_Win w : wins_) MPI_Win_sync(w);
  }
  // before MPI_Finalize (after a failure the launcher ends the job instead)
  void release() {
    for (MPI_Win& w : wins_) {
      MPI_Win_unlock_all(w);
      MPI_Win_free(&w);
    }
    wins_.clear();
  }

 private:
  MPI_Comm node_;
  int rank_ = 0, size_ = 1;
  std::vector<MPI_Win> wins_;
};

class MpiCollective : public Collective {
 public:
  MpiCollective(MPI_Comm comm, MPI_Comm node) : comm_(comm), chunk_(chunk_bytes()) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    int local = 0;
    MPI_Comm_size(node, &local);
    if (size_ > 1 && local == size_) node_.emplace(node);
  }
  NodeMemory* node_memory() override { return node_ ? &*node_ : nullptr; }
  void release() {
    if (node_) node_->release();
  }
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  void sum(float* v, std::size_t n) override { sum_in_place(v, n, MPI_FLOAT); }
  void sum(double* v, std::size_t n) override { sum_in_place(v, n, MPI_DOUBLE); }
  std::uint64_t max(std::uint64_t v) override { return reduce(v, MPI_MAX); }
  std::uint64_t bit_or(std::uint64_t v) override { return reduce(v, MPI_BOR); }
  void broadcast(void* data, std::size_t n, int root) override {
    auto* p = static_cast<char*>(data);
    for (std::size_t i = 0; i < n; i += chunk_) MPI_Bcast(p + i, count(std::min(chunk_, n - i)), MPI_BYTE, root, comm_);
  }
  void gather(const void* mine, std::size_t n, void* all) override {
    MPI_Allgather(mine, count(n), MPI_BYTE, all, count(n), MPI_BYTE, comm_);
  }
  void gather(const void* mine, const std::vector<std::size_t>& counts, void* all) override {
    counts_.resize(counts.size()), displs_.resize(counts.size());
    std::size_t at = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) counts_[r] = count(counts[r]), displs_[r] = count(at), at += counts[r];
    MPI_Allgatherv(mine, counts_[static_cast<std::size_t>(rank_)], MPI_BYTE, all, counts_.data(), displs_.data(),
                   MPI_BYTE, comm_);
  }

 private:
  static int count(std::size_t n) {
    if (n > static_cast<std::size_t>(INT_MAX)) throw_internal("an MPI message of more than 2^31 - 1 elements");
    return static_cast<int>(n);
  }
  template <class T>
  void sum_in_place(T* v, std::size_t n, MPI_Datatype type) {
    const std::size_t piece = chunk_ / sizeof(T);
    for (std::size_t i = 0; i < n; i += piece)
      MPI_Allreduce(MPI_IN_PLACE, v + i, count(std::min(piece, n - i)), type, MPI_SUM, comm_);
  }
  std::uint64_t reduce(std::uint64_t v, MPI_Op op) {
    std::uint64_t out = 0;
    MPI_Allreduce(&v, &out, 1, MPI_UINT64_T, op, comm_);
    return out;
  }
  MPI_Comm comm_;
  std::size_t chunk_;
  int rank_ = 0, size_ = 1;
  std::vector<int> counts_, displs_;
  std::optional<MpiNodeMemory> node_;  // when every process is on this machine
};

}  // namespace

struct Session::Impl {
  bool mpi = false, finalized = false;
  MPI_Comm comm = MPI_COMM_NULL, node = MPI_COMM_NULL;
  std::unique_ptr<Collective> coll;
  MpiCollective* mpi_coll = nullptr;
};

Session::Session(int* argc, char*** argv) : impl_(std::make_unique<Impl>()) {
  if (launched_processes() == 0) {
    impl_->coll = std::make_unique<Collective>();
    return;
  }
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  impl_->mpi = true;
  MPI_Comm_dup(MPI_COMM_WORLD, &impl_->comm);
  // the processes that share this machine
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &impl_->node);
  MPI_Comm_size(impl_->node, &local_);
  auto coll = std::make_unique<MpiCollective>(impl_->comm, impl_->node);
  impl_->mpi_coll = coll.get();
  impl_->coll = std::move(coll);
}

Session::~Session() = default;  // after a failure MPI is left to the launcher (see finish)

Collective& Session::collective() { return *impl_->coll; }

std::string Session::mpi_version() const {
  if (!impl_->mpi) return "";
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, static_cast<std::size_t>(std::max(0, len)));
  if (const auto end = s.find_first_of(",\r\n"); end != std::string::npos) s.resize(end);  // "Open MPI v4.1.4"
  return s;
}

int Session::finish(int rc) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (impl_->mpi && !impl_->finalized && rc == 0) {
    impl_->mpi_coll->release();
    MPI_Comm_free(&impl_->node);
    MPI_Comm_free(&impl_->comm);
    MPI_Finalize();
    impl_->finalized = true;
  }
  return rc;
}

bool Session::built_with_mpi() noexcept { return true; }

}  // namespace wordlm::dist

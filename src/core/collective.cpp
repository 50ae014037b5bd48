// The one-process collective and all_or_none().
#include "core/collective.hpp"

#include <cstring>
#include <exception>
#include <new>

#include "core/error.hpp"

namespace wordlm {

void Collective::sum(float* v, std::size_t n) { (void)v, (void)n; }
void Collective::sum(double* v, std::size_t n) { (void)v, (void)n; }
std::uint64_t Collective::max(std::uint64_t v) { return v; }
std::uint64_t Collective::bit_or(std::uint64_t v) { return v; }
void Collective::broadcast(void* data, std::size_t n, int root) { (void)data, (void)n, (void)root; }

void Collective::gather(const void* mine, std::size_t n, void* all) {
  if (n) std::memmove(all, mine, n);
}

void Collective::gather(const void* mine, const std::vector<std::size_t>& counts, void* all) {
  if (!counts.empty() && counts[0]) std::memmove(all, mine, counts[0]);
}

void Collective::broadcast(std::string& s, int root) {
  std::uint64_t n = s.size();
  broadcast(&n, sizeof n, root);
  s.resize(n);
  broadcast(s.data(), n, root);
}

void all_or_none(Collective& c, const std::function<void()>& fn) {
  if (c.size() == 1) {  // alone: errors pass through as they are
    fn();
    return;
  }
  ErrorKind kind = ErrorKind::Internal;
  std::string what;
  bool failed = true;
  try {
    fn();
    failed = false;
  } catch (const Error& e) {
    kind = e.kind(), what = e.what();
  } catch (const std::bad_alloc&) {
    what = "out of memory";
  } catch (const std::exception& e) {
    what = std::string("internal: ") + e.what();
  }
  // the lowest failing rank r is size - max(size - r)
  const std::uint64_t top = c.max(failed ? static_cast<std::uint64_t>(c.size() - c.rank()) : 0);
  if (top == 0) return;
  const int first = c.size() - static_cast<int>(top);
  std::int32_t k = static_cast<std::int32_t>(kind);
  c.broadcast(&k, sizeof k, first);
  c.broadcast(what, first);
  throw Error(static_cast<ErrorKind>(k), "rank " + std::to_string(first) + " of " + std::to_string(c.size()) + ": " + what);
}

}  // namespace wordlm

// AlignedBuffer<T>: an owning, 64-byte aligned, fixed-size array of trivially copyable T.
// Every hot buffer in wordlm (parameters, activations, packed int8 weights) is one of these,
// allocated once outside the per-batch loops. Contents start zeroed. move_to() turns one into a
// view of memory it does not own (data-parallel processes on one machine keep their parameters in
// memory they share: train/shared_update.hpp); a view keeps its size.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace wordlm {

inline constexpr std::size_t kAlign = 64;

template <class T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n) { resize(n); }
  AlignedBuffer(const AlignedBuffer& o) { *this = o; }
  AlignedBuffer(AlignedBuffer&& o) noexcept { swap(o); }
  AlignedBuffer& operator=(const AlignedBuffer& o) {
    if (this != &o) {
      resize(o.n_);
      if (o.n_) std::memcpy(p_, o.p_, o.n_ * sizeof(T));
    }
    return *this;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    AlignedBuffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~AlignedBuffer() {
    if (owned_) std::free(p_);
  }

  // Reallocates (and zeroes) only when the size changes; a view cannot change its size.
  void resize(std::size_t n) {
    if (n == n_) return;
    if (!owned_) throw std::logic_error("AlignedBuffer: resizing a view of memory it does not own");
    std::free(p_);
    p_ = nullptr;
    n_ = 0;
    if (n == 0) return;
    std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    p_ = static_cast<T*>(std::aligned_alloc(kAlign, bytes));
    if (!p_) throw std::bad_alloc();
    std::memset(static_cast<void*>(p_), 0, bytes);
    n_ = n;
  }
  void zero() {
    if (n_) std::memset(static_cast<void*>(p_), 0, n_ * sizeof(T));
  }
  void swap(AlignedBuffer& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(owned_, o.owned_);
  }
  // Copies the contents to `to` (size() Ts, 64-byte aligned, outliving this buffer and every
  // view of it) unless !copy (`to` already holds them), frees its own memory and from then on uses `to`.
  void move_to(T* to, bool copy = true) {
    if (to == p_) return;
    if (copy && n_) std::memcpy(static_cast<void*>(to), p_, n_ * sizeof(T));
    if (owned_) std::free(p_);
    p_ = to;
    owned_ = false;
  }
  bool owned() const noexcept { return owned_; }

  T* data() noexcept { return p_; }
  const T* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  T& operator[](std::size_t i) noexcept { return p_[i]; }
  const T& operator[](std::size_t i) const noexcept { return p_[i]; }
  T* begin() noexcept { return p_; }
  T* end() noexcept { return p_ + n_; }
  const T* begin() const noexcept { return p_; }
  const T* end() const noexcept { return p_ + n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
  bool owned_ = true;  // false: a view (move_to), never freed here
};

}  // namespace wordlm

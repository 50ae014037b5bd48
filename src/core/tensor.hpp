// Tensor: an owning, row-major, dense n-d array with a safetensors dtype. This is the unit the
// checkpoint reader/writer and the quantizer exchange; the model math works on raw pointers
// into AlignedBuffers and only meets Tensor at the checkpoint boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/aligned.hpp"
#include "core/error.hpp"

namespace wordlm {

// The safetensors dtypes (huggingface/safetensors README "Format"). The reader knows them all so
// it can validate any file; the model accepts only F32, I8 and I32 tensors.
enum class DType : std::uint8_t { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

std::size_t dtype_size(DType dt) noexcept;
std::string_view dtype_name(DType dt) noexcept;
std::optional<DType> dtype_from_name(std::string_view name) noexcept;

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<std::int8_t>() { return DType::I8; }
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<std::int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::I64; }

using Shape = std::vector<std::int64_t>;
std::string shape_str(const Shape& s);
// Product of dims, or nullopt on overflow past int64 or a negative dim.
std::optional<std::int64_t> shape_numel(const Shape& s) noexcept;

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dt, Shape shape);  // zero-filled

  template <class T>
  static Tensor from(Shape shape, std::span<const T> values) {
    Tensor t(dtype_of<T>(), std::move(shape));
    WORDLM_CHECK(values.size() == static_cast<std::size_t>(t.numel()), "Tensor::from size mismatch");
    if (!values.empty()) std::memcpy(t.bytes(), values.data(), values.size_bytes());
    return t;
  }

  DType dtype() const noexcept { return dtype_; }
  const Shape& shape() const noexcept { return shape_; }
  std::int64_t numel() const noexcept { return numel_; }
  std::size_t nbytes() const noexcept { return static_cast<std::size_t>(numel_) * dtype_size(dtype_); }
  std::int64_t dim(std::size_t i) const { return shape_.at(i); }

  std::byte* bytes() noexcept { return buf_.data(); }
  const std::byte* bytes() const noexcept { return buf_.data(); }

  template <class T>
  T* data() {
    WORDLM_CHECK(dtype_of<T>() == dtype_, "tensor dtype is " + std::string(dtype_name(dtype_)));
    return reinterpret_cast<T*>(buf_.data());
  }
  template <class T>
  const T* data() const {
    WORDLM_CHECK(dtype_of<T>() == dtype_, "tensor dtype is " + std::string(dtype_name(dtype_)));
    return reinterpret_cast<const T*>(buf_.data());
  }
  template <class T>
  std::span<const T> values() const { return {data<T>(), static_cast<std::size_t>(numel_)}; }
  template <class T>
  std::span<T> values() { return {data<T>(), static_cast<std::size_t>(numel_)}; }

  bool same_bytes(const Tensor& o) const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  std::int64_t numel_ = 0;
  AlignedBuffer<std::byte> buf_;
};

}  // namespace wordlm

// Tensor and dtype helpers.
#include "core/tensor.hpp"

#include <array>
#include <cstring>

namespace wordlm {

namespace {
struct DTypeInfo {
  DType dt;
  const char* name;
  std::size_t size;
};
constexpr std::array<DTypeInfo, 15> kDTypes{{
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},       {DType::I8, "I8", 1},
    {DType::F8_E5M2, "F8_E5M2", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},   {DType::F16, "F16", 2},     {DType::BF16, "BF16", 2},
    {DType::I32, "I32", 4},   {DType::U32, "U32", 4},     {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},   {DType::I64, "I64", 8},     {DType::U64, "U64", 8},
}};
}  // namespace

std::size_t dtype_size(DType dt) noexcept { return kDTypes[static_cast<std::size_t>(dt)].size; }
std::string_view dtype_name(DType dt) noexcept { return kDTypes[static_cast<std::size_t>(dt)].name; }
std::optional<DType> dtype_from_name(std::string_view name) noexcept {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dt;
  return std::nullopt;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

std::optional<std::int64_t> shape_numel(const Shape& s) noexcept {
  std::int64_t n = 1;
  for (auto d : s) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

Tensor::Tensor(DType dt, Shape shape) : dtype_(dt), shape_(std::move(shape)) {
  auto n = shape_numel(shape_);
  WORDLM_CHECK(n.has_value(), "tensor shape overflows: " + shape_str(shape_));
  numel_ = *n;
  buf_.resize(nbytes());
}

bool Tensor::same_bytes(const Tensor& o) const {
  return dtype_ == o.dtype_ && shape_ == o.shape_ &&
         (nbytes() == 0 || std::memcmp(bytes(), o.bytes(), nbytes()) == 0);
}

}  // namespace wordlm

// safetensors container: reader and writer (huggingface/safetensors README "Format").
//
//   bytes 0..8      N, header length, u64 little-endian (N <= 100,000,000)
//   bytes 8..8+N    UTF-8 JSON object: {"NAME": {"dtype", "shape", "data_offsets": [BEGIN, END]},
//                   ..., "__metadata__": {"key": "string"}}; may be padded with trailing spaces
//   bytes 8+N..     data buffer; offsets are relative to it, tensors back to back from 0 to EOF
//
// The reader checks everything before it allocates anything: sizes are validated against the
// real file size, so a header claiming a 10^12-element tensor fails without touching memory.
// Each way a file can be rejected has its own CheckpointErrc and a message naming the tensor and
// the byte offset. The writer pads the header with spaces to a multiple of 8 and lays tensors out
// back to back, widest dtype first, so every tensor is aligned to its element size.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace wordlm {

enum class CheckpointErrc {
  // container (safetensors) level
  NotRegularFile,      // a directory, a device...
  FileTooShort,        // < 8 bytes
  HeaderTooLarge,      // N > 100,000,000
  HeaderOutOfBounds,   // 8 + N > file size
  HeaderNotUtf8,
  HeaderNotJson,       // not JSON, not an object, or does not start with '{'
  DuplicateName,       // a key twice in any JSON object of the header
  MetadataNotString,   // __metadata__ not an object of strings
  InvalidTensorInfo,   // entry lacks dtype/shape/data_offsets or has wrong types
  UnknownDtype,
  ShapeOverflow,       // product of dims (or bytes) overflows
  InvalidOffsets,      // END < BEGIN
  OffsetsNotFromZero,  // first tensor does not start at 0
  OffsetGap,           // a gap between consecutive tensors
  OffsetOverlap,       // consecutive tensors overlap
  SizeMismatch,        // END - BEGIN != numel * dtype size
  TrailingBytes,       // bytes after the last tensor (polyglot file)
  Truncated,           // data buffer shorter than the offsets say (or the file shrank)
  // model (wordlm profile) level
  NotWordlm,           // no wordlm format metadata
  NewerVersion,        // written by a newer format version
  BadMetadata,         // config / vocab / scheme metadata missing or invalid
  MissingTensor,
  UnexpectedTensor,
  ShapeMismatch,
  DtypeMismatch,
  MissingScale,        // I8 tensor without NAME_scale
  BadScale,            // scale <= 0, NaN or Inf, or wrong shape
  NonFinite,           // NaN/Inf in a float weight
  OutOfRange,          // int8 weight of -128 (the scheme is symmetric [-127, 127])
  BadPacking,          // 4-bit U8 tensor of the wrong packed length
  BadGroup,            // 4-bit group size missing, not a multiple of 8, or not dividing K
  AlreadyQuantized,
};

const char* checkpoint_errc_name(CheckpointErrc c) noexcept;

class CheckpointError : public Error {
 public:
  CheckpointError(CheckpointErrc code, const std::string& what, ErrorKind kind = ErrorKind::Data)
      : Error(kind, what), code_(code) {}
  CheckpointErrc code() const noexcept { return code_; }

 private:
  CheckpointErrc code_;
};

inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
// Beyond the spec, so that a header cannot make the parser build a huge tree: a safetensors header
// nests at most 3 deep ({ "t": { "shape": [ ] } }), and this reader accepts at most 100,000 entries.
inline constexpr int kMaxHeaderDepth = 3;
inline constexpr std::size_t kMaxHeaderEntries = 100'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

struct SafetensorsHeader {
  std::uint64_t header_len = 0;             // N
  std::vector<TensorInfo> tensors;          // sorted by begin offset
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start() const noexcept { return 8 + header_len; }
};

// Validates the first bytes of a file whose total size is file_size. `prefix` must hold at least
// min(file_size, 8 + N) bytes (call once with 8 bytes to learn N, see header_length()).
std::uint64_t header_length(std::span<const std::byte> first8, std::uint64_t file_size, const std::string& label);
SafetensorsHeader parse_header(std::span<const std::byte> header_json, std::uint64_t header_len,
                               std::uint64_t file_size, const std::string& label);

struct Safetensors {
  std::vector<std::pair<std::string, Tensor>> tensors;  // file order (by offset)
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;
  Tensor* find(const std::string& name);
};

// Reads and validates a whole file (pread into aligned buffers; no mmap, so a file that shrinks
// while being read is a Truncated error, never a SIGBUS).
Safetensors read_safetensors(const std::string& path);
// Test seam: called by read_safetensors() after the header is validated and before tensor data
// is read (tests use it to shrink the file underneath the reader). Empty by default.
void set_read_hook_for_testing(std::function<void(const std::string& path)> hook);
// Same validation over bytes in memory (tests, fuzzing).
Safetensors parse_safetensors(std::span<const std::byte> bytes, const std::string& label = "<memory>");

// Serializes (header + data). Names must be unique; "__metadata__" is reserved.
struct TensorRef {
  std::string name;
  const Tensor* tensor;
};
std::string safetensors_header_json(const std::vector<TensorRef>& tensors,
                                    const std::map<std::string, std::string>& metadata,
                                    std::vector<TensorRef>* layout_out = nullptr);
void write_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                       const std::map<std::string, std::string>& metadata);
std::string serialize_safetensors(const std::vector<TensorRef>& tensors,
                                  const std::map<std::string, std::string>& metadata);

}  // namespace wordlm

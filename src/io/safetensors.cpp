// safetensors reader/writer. Validation order follows the reference reader: header length,
// UTF-8, JSON, entries, then offsets (sorted), sizes and the exact end of the buffer.
#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/fileio.hpp"
#include "core/utf8.hpp"
#include "nlohmann/json.hpp"

namespace wordlm {

using json = nlohmann::json;

const char* checkpoint_errc_name(CheckpointErrc c) noexcept {
  switch (c) {
    case CheckpointErrc::NotRegularFile: return "NotRegularFile";
    case CheckpointErrc::FileTooShort: return "FileTooShort";
    case CheckpointErrc::HeaderTooLarge: return "HeaderTooLarge";
    case CheckpointErrc::HeaderOutOfBounds: return "HeaderOutOfBounds";
    case CheckpointErrc::HeaderNotUtf8: return "HeaderNotUtf8";
    case CheckpointErrc::HeaderNotJson: return "HeaderNotJson";
    case CheckpointErrc::DuplicateName: return "DuplicateName";
    case CheckpointErrc::MetadataNotString: return "MetadataNotString";
    case CheckpointErrc::InvalidTensorInfo: return "InvalidTensorInfo";
    case CheckpointErrc::UnknownDtype: return "UnknownDtype";
    case CheckpointErrc::ShapeOverflow: return "ShapeOverflow";
    case CheckpointErrc::InvalidOffsets: return "InvalidOffsets";
    case CheckpointErrc::OffsetsNotFromZero: return "OffsetsNotFromZero";
    case CheckpointErrc::OffsetGap: return "OffsetGap";
    case CheckpointErrc::OffsetOverlap: return "OffsetOverlap";
    case CheckpointErrc::SizeMismatch: return "SizeMismatch";
    case CheckpointErrc::TrailingBytes: return "TrailingBytes";
    case CheckpointErrc::Truncated: return "Truncated";
    case CheckpointErrc::NotWordlm: return "NotWordlm";
    case CheckpointErrc::NewerVersion: return "NewerVersion";
    case CheckpointErrc::BadMetadata: return "BadMetadata";
    case CheckpointErrc::MissingTensor: return "MissingTensor";
    case CheckpointErrc::UnexpectedTensor: return "UnexpectedTensor";
    case CheckpointErrc::ShapeMismatch: return "ShapeMismatch";
    case CheckpointErrc::DtypeMismatch: return "DtypeMismatch";
    case CheckpointErrc::MissingScale: return "MissingScale";
    case CheckpointErrc::BadScale: return "BadScale";
    case CheckpointErrc::NonFinite: return "NonFinite";
    case CheckpointErrc::OutOfRange: return "OutOfRange";
    case CheckpointErrc::BadPacking: return "BadPacking";
    case CheckpointErrc::BadGroup: return "BadGroup";
    case CheckpointErrc::AlreadyQuantized: return "AlreadyQuantized";
  }
  return "?";
}

namespace {

[[noreturn]] void reject(CheckpointErrc code, const std::string& label, const std::string& what) {
  throw CheckpointError(code, label + ": " + what);
}

std::uint64_t read_u64le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// Non-negative integer from a JSON value, or nullopt.
std::optional<std::uint64_t> as_u64(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    auto i = v.get<std::int64_t>();
    if (i >= 0) return static_cast<std::uint64_t>(i);
  }
  return std::nullopt;
}

TensorInfo parse_entry(const std::string& name, const json& v, const std::string& label) {
  auto bad = [&](const std::string& what) {
    reject(CheckpointErrc::InvalidTensorInfo, label, "tensor '" + name + "': " + what);
  };
  if (!v.is_object()) bad("entry is not a JSON object");
  for (const auto& [k, _] : v.items())
    if (k != "dtype" && k != "shape" && k != "data_offsets") bad("unknown field '" + k + "'");
  auto dt = v.find("dtype");
  auto sh = v.find("shape");
  auto off = v.find("data_offsets");
  if (dt == v.end() || sh == v.end() || off == v.end()) bad("needs dtype, shape and data_offsets");
  if (!dt->is_string()) bad("dtype is not a string");
  if (!sh->is_array()) bad("shape is not an array");
  if (!off->is_array() || off->size() != 2) bad("data_offsets is not an array of two integers");
  TensorInfo t;
  t.name = name;
  auto dtype = dtype_from_name(dt->get<std::string>());
  if (!dtype)
    reject(CheckpointErrc::UnknownDtype, label, "tensor '" + name + "': unknown dtype '" + dt->get<std::string>() + "'");
  t.dtype = *dtype;
  for (const auto& d : *sh) {
    auto u = as_u64(d);
    if (!u) bad("shape has a value that is not a non-negative integer");
    if (*u > static_cast<std::uint64_t>(INT64_MAX))
      reject(CheckpointErrc::ShapeOverflow, label, "tensor '" + name + "': dimension " + std::to_string(*u) + " overflows");
    t.shape.push_back(static_cast<std::int64_t>(*u));
  }
  auto b = as_u64((*off)[0]), e = as_u64((*off)[1]);
  if (!b || !e) bad("data_offsets has a value that is not a non-negative integer");
  t.begin = *b;
  t.end = *e;
  return t;
}

}  // namespace

std::uint64_t header_length(std::span<const std::byte> first8, std::uint64_t file_size, const std::string& label) {
  if (file_size < 8 || first8.size() < 8)
    reject(CheckpointErrc::FileTooShort, label,
           "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  const std::uint64_t n = read_u64le(first8.data());
  if (n > kMaxHeaderBytes)
    reject(CheckpointErrc::HeaderTooLarge, label,
           "header length " + std::to_string(n) + " (bytes 0..8) exceeds the limit of 100,000,000");
  if (8 + n > file_size)
    reject(CheckpointErrc::HeaderOutOfBounds, label,
           "header length " + std::to_string(n) + " (bytes 0..8) runs past the end of the " +
               std::to_string(file_size) + "-byte file");
  return n;
}

SafetensorsHeader parse_header(std::span<const std::byte> header_json, std::uint64_t header_len,
                               std::uint64_t file_size, const std::string& label) {
  WORDLM_CHECK(header_json.size() == header_len, "parse_header: span size != header length");
  std::string_view text(reinterpret_cast<const char*>(header_json.data()), header_json.size());
  if (auto bad = utf8::first_invalid(text); bad != std::string_view::npos)
    reject(CheckpointErrc::HeaderNotUtf8, label, "header is not valid UTF-8 at byte " + std::to_string(8 + bad));
  if (text.empty() || text[0] != '{')
    reject(CheckpointErrc::HeaderNotJson, label, "header (byte 8) does not start with '{'");
  if (const auto shape = utf8::json_shape(text); shape.max_depth > kMaxHeaderDepth)
    reject(CheckpointErrc::HeaderNotJson, label,
           "header nests " + std::to_string(shape.max_depth) + " levels deep; a safetensors header has at most " +
               std::to_string(kMaxHeaderDepth));
  else if (shape.top_level_items > kMaxHeaderEntries)
    reject(CheckpointErrc::HeaderNotJson, label,
           "header has " + std::to_string(shape.top_level_items) + " entries; this reader accepts at most " +
               std::to_string(kMaxHeaderEntries));

  // Parse, watching every object for a repeated key (nlohmann would silently keep the last).
  std::vector<std::set<std::string>> keys;
  std::string dup;
  json root;
  try {
    root = json::parse(
        text,
        [&](int, json::parse_event_t ev, json& parsed) {
          if (ev == json::parse_event_t::object_start) {
            keys.emplace_back();
          } else if (ev == json::parse_event_t::object_end) {
            if (!keys.empty()) keys.pop_back();
          } else if (ev == json::parse_event_t::key && !keys.empty()) {
            if (!keys.back().insert(parsed.get<std::string>()).second && dup.empty()) dup = parsed.get<std::string>();
          }
          return true;
        },
        true, false);
  } catch (const json::exception& e) {
    std::string where;
    if (const auto* pe = dynamic_cast<const json::parse_error*>(&e)) where = " near byte " + std::to_string(8 + pe->byte);
    reject(CheckpointErrc::HeaderNotJson, label, "header is not valid JSON" + where + ": " + e.what());
  }
  if (!dup.empty()) reject(CheckpointErrc::DuplicateName, label, "header has the name '" + dup + "' twice");
  if (!root.is_object()) reject(CheckpointErrc::HeaderNotJson, label, "header is not a JSON object");

  SafetensorsHeader h;
  h.header_len = header_len;
  for (const auto& [name, v] : root.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) reject(CheckpointErrc::MetadataNotString, label, "__metadata__ is not an object");
      for (const auto& [k, mv] : v.items()) {
        if (!mv.is_string())
          reject(CheckpointErrc::MetadataNotString, label,
                 "__metadata__ value of '" + k + "' is a " + mv.type_name() + ", not a string");
        h.metadata.emplace(k, mv.get<std::string>());
      }
      continue;
    }
    h.tensors.push_back(parse_entry(name, v, label));
  }
  std::stable_sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });

  const std::uint64_t data_len = file_size - 8 - header_len;
  std::uint64_t pos = 0;
  for (const auto& t : h.tensors) {
    const std::string at = " (data bytes " + std::to_string(t.begin) + ".." + std::to_string(t.end) +
                           ", file offset " + std::to_string(8 + header_len + t.begin) + ")";
    if (t.end < t.begin)
      reject(CheckpointErrc::InvalidOffsets, label, "tensor '" + t.name + "': END < BEGIN" + at);
    if (t.begin != pos) {
      if (pos == 0) reject(CheckpointErrc::OffsetsNotFromZero, label, "tensor '" + t.name + "' is the first but does not start at 0" + at);
      if (t.begin > pos)
        reject(CheckpointErrc::OffsetGap, label,
               "gap of " + std::to_string(t.begin - pos) + " bytes before tensor '" + t.name + "'" + at);
      reject(CheckpointErrc::OffsetOverlap, label, "tensor '" + t.name + "' overlaps the previous tensor" + at);
    }
    auto numel = shape_numel(t.shape);
    std::uint64_t nbytes = 0;
    if (!numel || __builtin_mul_overflow(static_cast<std::uint64_t>(*numel), dtype_size(t.dtype), &nbytes))
      reject(CheckpointErrc::ShapeOverflow, label, "tensor '" + t.name + "': shape " + shape_str(t.shape) + " overflows");
    if (t.end - t.begin != nbytes)
      reject(CheckpointErrc::SizeMismatch, label,
             "tensor '" + t.name + "': " + std::string(dtype_name(t.dtype)) + " " + shape_str(t.shape) + " needs " +
                 std::to_string(nbytes) + " bytes but its offsets span " + std::to_string(t.end - t.begin) + at);
    pos = t.end;
  }
  if (pos < data_len)
    reject(CheckpointErrc::TrailingBytes, label,
           std::to_string(data_len - pos) + " bytes follow the last tensor (file offset " +
               std::to_string(8 + header_len + pos) + ")");
  if (pos > data_len)
    reject(CheckpointErrc::Truncated, label,
           "data buffer is " + std::to_string(data_len) + " bytes but the tensors need " + std::to_string(pos) +
               " (file truncated at offset " + std::to_string(file_size) + ")");
  return h;
}

const Tensor* Safetensors::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}
Tensor* Safetensors::find(const std::string& name) {
  for (auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

Safetensors parse_safetensors(std::span<const std::byte> bytes, const std::string& label) {
  const std::uint64_t size = bytes.size();
  const std::uint64_t n = header_length(bytes.first(std::min<std::size_t>(8, bytes.size())), size, label);
  auto h = parse_header(bytes.subspan(8, n), n, size, label);
  Safetensors st;
  st.metadata = std::move(h.metadata);
  for (const auto& t : h.tensors) {
    Tensor x(t.dtype, t.shape);
    if (x.nbytes()) std::memcpy(x.bytes(), bytes.data() + h.data_start() + t.begin, x.nbytes());
    st.tensors.emplace_back(t.name, std::move(x));
  }
  return st;
}

namespace {
std::function<void(const std::string&)>& read_hook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}
}  // namespace

void set_read_hook_for_testing(std::function<void(const std::string& path)> hook) { read_hook() = std::move(hook); }

Safetensors read_safetensors(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw CheckpointError(CheckpointErrc::NotRegularFile, path + ": cannot open: " + std::strerror(errno), ErrorKind::NoInput);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
    throw CheckpointError(CheckpointErrc::NotRegularFile, path + ": not a regular file", ErrorKind::Data);
  const auto size = static_cast<std::uint64_t>(sb.st_size);

  auto read_at = [&](std::byte* dst, std::uint64_t n, std::uint64_t off) {
    while (n > 0) {
      ssize_t r = ::pread(fd, dst, n, static_cast<off_t>(off));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw CheckpointError(CheckpointErrc::Truncated, path + ": read error at byte " + std::to_string(off) + ": " +
                                                             std::strerror(errno), ErrorKind::Io);
      }
      if (r == 0)
        reject(CheckpointErrc::Truncated, path,
               "file ended at byte " + std::to_string(off) + " while reading (did it shrink while being read?)");
      dst += r, n -= static_cast<std::uint64_t>(r), off += static_cast<std::uint64_t>(r);
    }
  };

  std::byte first8[8] = {};
  if (size >= 8) read_at(first8, 8, 0);
  const std::uint64_t n = header_length({first8, size >= 8 ? 8u : 0u}, size, path);
  std::vector<std::byte> header(n);
  read_at(header.data(), n, 8);
  auto h = parse_header(header, n, size, path);
  if (read_hook()) read_hook()(path);
  Safetensors st;
  st.metadata = std::move(h.metadata);
  st.tensors.reserve(h.tensors.size());
  for (const auto& t : h.tensors) {
    Tensor x(t.dtype, t.shape);
    read_at(x.bytes(), x.nbytes(), h.data_start() + t.begin);
    st.tensors.emplace_back(t.name, std::move(x));
  }
  // A file that grew or shrank while we read it is not the file we validated.
  struct stat sb2 {};
  if (::fstat(fd, &sb2) == 0 && static_cast<std::uint64_t>(sb2.st_size) != size)
    reject(CheckpointErrc::Truncated, path, "file changed size while being read");
  return st;
}

std::string safetensors_header_json(const std::vector<TensorRef>& tensors,
                                    const std::map<std::string, std::string>& metadata,
                                    std::vector<TensorRef>* layout_out) {
  // Widest dtype first keeps every tensor aligned to its element size.
  std::vector<TensorRef> order = tensors;
  std::stable_sort(order.begin(), order.end(), [](const TensorRef& a, const TensorRef& b) {
    return dtype_size(a.tensor->dtype()) > dtype_size(b.tensor->dtype());
  });
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  std::set<std::string> seen;
  std::uint64_t pos = 0;
  for (const auto& r : order) {
    WORDLM_CHECK(r.name != "__metadata__", "tensor name __metadata__ is reserved");
    WORDLM_CHECK(seen.insert(r.name).second, "duplicate tensor name " + r.name);
    const auto nb = static_cast<std::uint64_t>(r.tensor->nbytes());
    h[r.name] = {{"dtype", std::string(dtype_name(r.tensor->dtype()))},
                 {"shape", r.tensor->shape()},
                 {"data_offsets", {pos, pos + nb}}};
    pos += nb;
  }
  std::string s = h.dump();
  s.append((8 - s.size() % 8) % 8, ' ');
  if (layout_out) *layout_out = std::move(order);
  return s;
}

namespace {
template <class Sink>
void emit_safetensors(const std::vector<TensorRef>& tensors, const std::map<std::string, std::string>& metadata,
                      Sink&& sink) {
  std::vector<TensorRef> order;
  const std::string header = safetensors_header_json(tensors, metadata, &order);
  std::byte len[8];
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  sink(len, 8);
  sink(header.data(), header.size());
  for (const auto& r : order)
    if (r.tensor->nbytes()) sink(r.tensor->bytes(), r.tensor->nbytes());
}
}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  AtomicFile f(path);
  emit_safetensors(tensors, metadata, [&](const void* p, std::size_t n) { f.write(p, n); });
  f.commit();
}

std::string serialize_safetensors(const std::vector<TensorRef>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::string out;
  emit_safetensors(tensors, metadata,
                   [&](const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); });
  return out;
}

}  // namespace wordlm

// safetensors container: round trips of every dtype wordlm uses, an independent Python reader,
// and one test per way the reader rejects a file (huggingface/safetensors' list plus ours).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

#include "core/fileio.hpp"
#include "helpers.hpp"
#include "io/safetensors.hpp"
#include "nlohmann/json.hpp"

using namespace wordlm;

namespace {

std::string raw_file(const std::string& header, const std::string& data, std::uint64_t n_override = ~0ull) {
  std::uint64_t n = n_override == ~0ull ? header.size() : n_override;
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s + header + data;
}

CheckpointErrc reject_code(const std::string& bytes) {
  try {
    parse_safetensors({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
  } catch (const CheckpointError& e) {
    CHECK(e.kind() == ErrorKind::Data);
    return e.code();
  }
  FAIL("expected the reader to reject the file");
  return CheckpointErrc::NotWordlm;
}

std::string f32_entry(const std::string& name, const std::string& shape, std::uint64_t b, std::uint64_t e,
                      const std::string& dtype = "F32") {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

}  // namespace

TEST_CASE("round trip of every dtype used keeps bytes and shapes and metadata", "[checkpoint]") {
  test::TempDir d;
  std::vector<float> f{1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f};
  std::vector<std::int8_t> q{-127, 0, 5, 127, -1};
  std::vector<std::int32_t> i32{-2147483647, 0, 42};
  std::vector<std::uint8_t> u8{0, 127, 255};
  std::vector<double> f64{3.141592653589793};
  std::vector<std::int64_t> i64{-1, 1ll << 40};
  Tensor tf = Tensor::from<float>({2, 3}, f), tq = Tensor::from<std::int8_t>({5}, q),
         ti = Tensor::from<std::int32_t>({3, 1}, i32), tu = Tensor::from<std::uint8_t>({3}, u8),
         td = Tensor::from<double>({1}, f64), tl = Tensor::from<std::int64_t>({2}, i64), tz(DType::F32, {0, 4});
  std::map<std::string, std::string> md{{"k", "v"}, {"json", "{\"a\": [1, 2]}"}, {"utf8", "caf\xC3\xA9"}};
  const auto path = d.file("m.safetensors");
  write_safetensors(path, {{"i8", &tq}, {"f32", &tf}, {"i32", &ti}, {"u8", &tu}, {"f64", &td}, {"i64", &tl}, {"empty", &tz}}, md);

  // header padded to 8, every tensor aligned to its element size
  auto bytes = read_text_file(path);
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  CHECK((8 + n) % 8 == 0);
  auto back = read_safetensors(path);
  CHECK(back.metadata == md);
  REQUIRE(back.tensors.size() == 7);
  CHECK(back.find("f32")->same_bytes(tf));
  CHECK(back.find("i8")->same_bytes(tq));
  CHECK(back.find("i32")->same_bytes(ti));
  CHECK(back.find("u8")->same_bytes(tu));
  CHECK(back.find("f64")->same_bytes(td));
  CHECK(back.find("i64")->same_bytes(tl));
  CHECK(back.find("empty")->shape() == Shape{0, 4});
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    auto off = info["data_offsets"][0].get<std::uint64_t>();
    auto sz = dtype_size(*dtype_from_name(info["dtype"].get<std::string>()));
    CHECK((8 + n + off) % sz == 0);
  }
}

TEST_CASE("an independent Python reader opens what wordlm writes", "[checkpoint]") {
  test::TempDir d;
  std::vector<float> f{1.5f, -2.25f, 3.0f, 4.0f};
  std::vector<std::int8_t> q{-127, 3, 127};
  Tensor tf = Tensor::from<float>({2, 2}, f), tq = Tensor::from<std::int8_t>({3, 1}, q);
  const auto path = d.file("m.safetensors");
  write_safetensors(path, {{"decoder.weight", &tq}, {"decoder.bias", &tf}}, {{"format", "wordlm"}});
  std::string out;
  int rc = test::run_command("python3 " + test::source_dir() + "/tests/read_safetensors.py " + path, &out);
  REQUIRE(rc == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["metadata"]["format"] == "wordlm");
  CHECK(j["tensors"]["decoder.bias"]["dtype"] == "F32");
  CHECK(j["tensors"]["decoder.bias"]["shape"] == nlohmann::json::array({2, 2}));
  CHECK(j["tensors"]["decoder.bias"]["sum"].get<double>() == Approx(6.25));
  CHECK(j["tensors"]["decoder.weight"]["dtype"] == "I8");
  CHECK(j["tensors"]["decoder.weight"]["sum"].get<double>() == Approx(3));
}

TEST_CASE("reject: file shorter than 8 bytes or empty", "[checkpoint]") {
  CHECK(reject_code("") == CheckpointErrc::FileTooShort);
  CHECK(reject_code("abc") == CheckpointErrc::FileTooShort);
}

TEST_CASE("reject: header length over 100,000,000", "[checkpoint]") {
  CHECK(reject_code(raw_file("{}", "", 100000001)) == CheckpointErrc::HeaderTooLarge);
}

TEST_CASE("reject: header length past the end of the file", "[checkpoint]") {
  CHECK(reject_code(raw_file("{}", "", 1000)) == CheckpointErrc::HeaderOutOfBounds);
}

TEST_CASE("reject: header not UTF-8", "[checkpoint]") {
  try {
    auto b = raw_file("{\"a\xFF\":1}", "");
    parse_safetensors({reinterpret_cast<const std::byte*>(b.data()), b.size()});
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::HeaderNotUtf8);
    CHECK_THAT(e.what(), Catch::Contains("byte 11"));
  }
}

TEST_CASE("reject: header not JSON or not an object or not starting with a brace", "[checkpoint]") {
  CHECK(reject_code(raw_file("{not json}", "")) == CheckpointErrc::HeaderNotJson);
  CHECK(reject_code(raw_file("[1, 2]  ", "")) == CheckpointErrc::HeaderNotJson);
  CHECK(reject_code(raw_file(" {}", "")) == CheckpointErrc::HeaderNotJson);
  CHECK(reject_code(raw_file("{} trailing", "")) == CheckpointErrc::HeaderNotJson);
}

TEST_CASE("reject: unknown dtype", "[checkpoint]") {
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[1]", 0, 4, "F31") + "}", "abcd")) == CheckpointErrc::UnknownDtype);
}

TEST_CASE("reject: non-string metadata value", "[checkpoint]") {
  CHECK(reject_code(raw_file("{\"__metadata__\":{\"k\":1}}", "")) == CheckpointErrc::MetadataNotString);
  CHECK(reject_code(raw_file("{\"__metadata__\":[\"k\"]}", "")) == CheckpointErrc::MetadataNotString);
}

TEST_CASE("reject: duplicate names", "[checkpoint]") {
  auto e = f32_entry("a", "[1]", 0, 4);
  CHECK(reject_code(raw_file("{" + e + "," + e + "}", "abcd")) == CheckpointErrc::DuplicateName);
  CHECK(reject_code(raw_file("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", "")) == CheckpointErrc::DuplicateName);
}

TEST_CASE("reject: malformed tensor entries", "[checkpoint]") {
  CHECK(reject_code(raw_file("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd")) == CheckpointErrc::InvalidTensorInfo);
  CHECK(reject_code(raw_file("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", "abcd")) ==
        CheckpointErrc::InvalidTensorInfo);
  CHECK(reject_code(raw_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "abcd")) ==
        CheckpointErrc::InvalidTensorInfo);
  CHECK(reject_code(raw_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "abcd")) ==
        CheckpointErrc::InvalidTensorInfo);
  CHECK(reject_code(raw_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "abcd")) ==
        CheckpointErrc::InvalidTensorInfo);
  CHECK(reject_code(raw_file("{\"a\":3}", "")) == CheckpointErrc::InvalidTensorInfo);
}

TEST_CASE("reject: offsets that do not start at 0", "[checkpoint]") {
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[1]", 4, 8) + "}", "abcdefgh")) == CheckpointErrc::OffsetsNotFromZero);
}

TEST_CASE("reject: a gap between tensors", "[checkpoint]") {
  auto h = "{" + f32_entry("a", "[1]", 0, 4) + "," + f32_entry("b", "[1]", 8, 12) + "}";
  try {
    auto b = raw_file(h, std::string(12, 'x'));
    parse_safetensors({reinterpret_cast<const std::byte*>(b.data()), b.size()});
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::OffsetGap);
    CHECK_THAT(e.what(), Catch::Contains("'b'") && Catch::Contains("file offset"));
  }
}

TEST_CASE("reject: overlapping tensors", "[checkpoint]") {
  auto h = "{" + f32_entry("a", "[2]", 0, 8) + "," + f32_entry("b", "[2]", 4, 12) + "}";
  CHECK(reject_code(raw_file(h, std::string(12, 'x'))) == CheckpointErrc::OffsetOverlap);
}

TEST_CASE("reject: END before BEGIN", "[checkpoint]") {
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[1]", 0, 4) + "," + f32_entry("b", "[0]", 8, 4) + "}",
                             std::string(8, 'x'))) == CheckpointErrc::InvalidOffsets);
}

TEST_CASE("reject: END - BEGIN != numel * dtype size", "[checkpoint]") {
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[2]", 0, 4) + "}", "abcd")) == CheckpointErrc::SizeMismatch);
}

TEST_CASE("reject: shape product overflow", "[checkpoint]") {
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[4611686018427387904,4]", 0, 4) + "}", "abcd")) ==
        CheckpointErrc::ShapeOverflow);
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[4611686018427387904]", 0, 4) + "}", "abcd")) ==
        CheckpointErrc::ShapeOverflow);  // bytes overflow
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[18446744073709551615]", 0, 4) + "}", "abcd")) ==
        CheckpointErrc::ShapeOverflow);
}

TEST_CASE("reject: bytes after the last tensor (polyglot)", "[checkpoint]") {
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[1]", 0, 4) + "}", "abcdEXTRA")) == CheckpointErrc::TrailingBytes);
  CHECK(reject_code(raw_file("{}", "x")) == CheckpointErrc::TrailingBytes);
}

TEST_CASE("reject: truncated data buffer", "[checkpoint]") {
  CHECK(reject_code(raw_file("{" + f32_entry("a", "[2]", 0, 8) + "}", "abcd")) == CheckpointErrc::Truncated);
}

TEST_CASE("a header claiming a 10^12-element tensor fails without allocating", "[checkpoint]") {
  // 4 TB of F32 claimed, 16 bytes present: rejected by size arithmetic before any allocation
  // (an attempted allocation would surface as std::bad_alloc, not CheckpointError).
  auto h = "{" + f32_entry("huge", "[1000000,1000000]", 0, 4000000000000ull) + "}";
  CHECK(reject_code(raw_file(h, std::string(16, 'x'))) == CheckpointErrc::Truncated);
}

TEST_CASE("reject: a directory and a missing file", "[checkpoint]") {
  test::TempDir d;
  try {
    read_safetensors(d.path().string());
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::NotRegularFile);
    CHECK(e.kind() == ErrorKind::Data);
  }
  try {
    read_safetensors(d.file("missing.safetensors"));
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.kind() == ErrorKind::NoInput);
  }
}

TEST_CASE("reject: an empty file on disk", "[checkpoint]") {
  test::TempDir d;
  auto p = d.write("empty.safetensors", "");
  try {
    read_safetensors(p);
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::FileTooShort);
  }
}

TEST_CASE("empty header with no tensors is a valid file", "[checkpoint]") {
  auto b = raw_file("{}      ", "");
  auto st = parse_safetensors({reinterpret_cast<const std::byte*>(b.data()), b.size()});
  CHECK(st.tensors.empty());
}

// Core utilities: SHA-256 test vectors, UTF-8 decoding, range splitting, atomic files, threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/rng.hpp"
#include "core/sha256.hpp"
#include "core/threads.hpp"
#include "core/utf8.hpp"
#include "helpers.hpp"

using namespace wordlm;

TEST_CASE("sha256 matches FIPS 180-4 test vectors", "[core]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // streaming in odd pieces equals one shot
  std::string million(1000000, 'a');
  Sha256 h;
  for (std::size_t i = 0; i < million.size(); i += 997) h.update(million.substr(i, 997));
  CHECK(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("utf8 decoding rejects overlongs and surrogates and truncation", "[core]") {
  CHECK(utf8::valid("plain ascii"));
  CHECK(utf8::valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK(utf8::first_invalid("ab\xC0\xAF") == 2);           // overlong '/'
  CHECK(utf8::first_invalid("\xED\xA0\x80") == 0);          // surrogate U+D800
  CHECK(utf8::first_invalid("x\xE2\x82") == 1);             // truncated
  CHECK(utf8::first_invalid("\xF4\x90\x80\x80") == 0);      // > U+10FFFF
  CHECK(utf8::first_invalid("\xFF") == 0);
  CHECK(utf8::is_space(U'\u00A0'));
  CHECK(utf8::is_space(U'\u3000'));
  CHECK(utf8::is_space(0x1F));
  CHECK_FALSE(utf8::is_space(U'\u200B'));  // zero-width space is not whitespace in Python
}

TEST_CASE("split_range covers the range with aligned contiguous chunks", "[core]") {
  for (std::int64_t n : {0, 1, 7, 8, 33, 1000})
    for (int nt : {1, 2, 3, 8})
      for (std::int64_t align : {1, 4, 32}) {
        std::int64_t expect = 0;
        for (int t = 0; t < nt; ++t) {
          auto [b, e] = split_range(n, t, nt, align);
          CHECK(b == expect);
          CHECK(e >= b);
          if (e < n) CHECK(e % align == 0);
          expect = e;
        }
        CHECK(expect == n);
      }
}

TEST_CASE("thread pool runs every thread and barriers order phases", "[core]") {
  for (int nt : {1, 2, 4}) {
    ThreadPool pool(nt);
    std::vector<int> phase1(static_cast<std::size_t>(nt), 0), seen(static_cast<std::size_t>(nt), 0);
    pool.run([&](int tid, int n) {
      REQUIRE(n == nt);
      phase1[static_cast<std::size_t>(tid)] = tid + 1;
      pool.barrier();
      int sum = 0;
      for (int v : phase1) sum += v;
      seen[static_cast<std::size_t>(tid)] = sum;
    });
    for (int s : seen) CHECK(s == nt * (nt + 1) / 2);
  }
}

TEST_CASE("thread pool rethrows a worker's exception", "[core]") {
  ThreadPool pool(2);
  CHECK_THROWS_AS(pool.run([&](int tid, int) {
    if (tid == 1) throw_data("boom");
    pool.barrier();  // must not hang
  }), Error);
  int runs = 0;
  pool.run([&](int tid, int) {
    if (tid == 0) runs++;
  });
  CHECK(runs == 1);
}

TEST_CASE("counter_uniform is deterministic and roughly uniform", "[core]") {
  const auto key = stream_key(1111, 7);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    float u = counter_uniform(key, static_cast<std::uint64_t>(i));
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    sum += u;
  }
  CHECK(sum / 100000 == Approx(0.5).margin(0.005));
  CHECK(counter_uniform(key, 42) == counter_uniform(stream_key(1111, 7), 42));
  CHECK(counter_uniform(key, 42) != counter_uniform(stream_key(1112, 7), 42));
}

TEST_CASE("AtomicFile replaces the target only on commit", "[core]") {
  test::TempDir dir;
  const auto path = dir.write("out.txt", "old");
  {
    AtomicFile f(path);
    f.write("new content");
    // not committed: destructor removes the temporary
  }
  CHECK(read_text_file(path) == "old");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
  write_file_atomic(path, "new content");
  CHECK(read_text_file(path) == "new content");
}

TEST_CASE("AtomicFile reports missing directories and directories as targets", "[core]") {
  test::TempDir dir;
  try {
    AtomicFile f(dir.file("no/such/dir/out.txt"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::CantCreate);
    CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
  }
  try {
    AtomicFile f(dir.path().string());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::CantCreate);
  }
}

TEST_CASE("AtomicFile commit failure throws Io and leaves no file", "[core]") {
  test::TempDir dir;
  const auto sub = dir.path() / "sub";
  std::filesystem::create_directory(sub);
  const auto path = (sub / "out.bin").string();
  AtomicFile f(path);
  f.write("partial");
  std::filesystem::remove_all(sub);  // the rename target's directory vanishes
  try {
    f.commit();
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Io);
  }
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("exit codes follow sysexits", "[core]") {
  CHECK(exit_code(ErrorKind::Usage) == 64);
  CHECK(exit_code(ErrorKind::Data) == 65);
  CHECK(exit_code(ErrorKind::NoInput) == 66);
  CHECK(exit_code(ErrorKind::CantCreate) == 73);
  CHECK(exit_code(ErrorKind::Io) == 74);
}

// Corpus loader: vocabulary order, <eos>/<unk>, line endings, BOM, max-vocab, every error case,
// batchify against hand-computed tables, and the real PTB files as a realistic input.
#include <catch2/catch.hpp>

#include <filesystem>

#include "data/batchify.hpp"
#include "data/corpus.hpp"
#include "helpers.hpp"

using namespace wordlm;
using Ids = std::vector<std::int32_t>;

namespace {
std::string make_corpus(const test::TempDir& d, const std::string& train, const std::string& valid,
                        const std::string& test) {
  d.write("c/train.txt", train);
  d.write("c/valid.txt", valid);
  d.write("c/test.txt", test);
  return d.file("c");
}

template <class F>
CorpusErrc corpus_error(F&& f) {
  try {
    f();
  } catch (const CorpusError& e) {
    return e.code();
  }
  FAIL("expected a CorpusError");
  return CorpusErrc::ReadError;
}
}  // namespace

TEST_CASE("vocabulary from train in first-occurrence order with eos per line and unk appended", "[corpus]") {
  test::TempDir d;
  auto dir = make_corpus(d, "the cat sat\nthe dog\n\nran\n", "the bird\r\nsat", "\xEF\xBB\xBF" "cat  dog\r");
  auto c = load_corpus(dir, {});
  CHECK(c.vocab.words() == std::vector<std::string>{"the", "cat", "sat", "<eos>", "dog", "ran", "<unk>"});
  CHECK(c.train.ids == Ids{0, 1, 2, 3, 0, 4, 3, 3, 5, 3});
  CHECK(c.train.stats.lines == 4);
  CHECK(c.valid.ids == Ids{0, 6, 3, 2, 3});  // CRLF, last line without newline, bird -> <unk>
  CHECK(c.valid.unk_mapped == 1);
  CHECK(c.test.ids == Ids{1, 4, 3});  // BOM skipped, lone \r ends the line
  CHECK(c.test.unk_mapped == 0);
}

TEST_CASE("vocabulary from all splits matches pytorch/examples data.py", "[corpus]") {
  test::TempDir d;
  auto dir = make_corpus(d, "the cat sat\nthe dog\n\nran\n", "the bird\r\nsat", "cat dog\n");
  CorpusOptions o;
  o.vocab_from = VocabFrom::All;
  auto c = load_corpus(dir, o);
  CHECK(c.vocab.words() == std::vector<std::string>{"the", "cat", "sat", "<eos>", "dog", "ran", "bird"});
  CHECK(c.vocab.unk_id() == -1);  // nothing added: exact parity
  CHECK(c.valid.ids == Ids{0, 6, 3, 2, 3});
}

TEST_CASE("max-vocab keeps the most frequent with ties by first occurrence and unk counted in N", "[corpus]") {
  test::TempDir d;
  auto dir = make_corpus(d, "the cat sat\nthe dog\n\nran\n", "cat\n", "the\n");
  CorpusOptions o;
  o.max_vocab = 3;
  auto c = load_corpus(dir, o);
  CHECK(c.vocab.words() == std::vector<std::string>{"the", "<eos>", "<unk>"});
  CHECK(c.train.ids == Ids{0, 2, 2, 1, 0, 2, 1, 1, 2, 1});
  CHECK(c.train.unk_mapped == 4);
  CHECK(c.valid.ids == Ids{2, 1});
  CHECK(c.valid.unk_mapped == 1);

  o.max_vocab = 4;  // one tie among count-1 words: 'cat' occurs first
  auto c4 = load_corpus(dir, o);
  CHECK(c4.vocab.words() == std::vector<std::string>{"the", "cat", "<eos>", "<unk>"});
}

TEST_CASE("a literal unk and eos in train are kept by max-vocab", "[corpus]") {
  test::TempDir d;
  auto dir = make_corpus(d, "a a a b b c <unk>\n", "z\n", "a\n");
  CorpusOptions o;
  o.max_vocab = 3;
  auto c = load_corpus(dir, o);
  CHECK(c.vocab.size() == 3);
  CHECK(c.vocab.unk_id() >= 0);
  CHECK(c.vocab.find("a"));
  CHECK(c.vocab.find("<eos>"));
}

TEST_CASE("lowercasing folds ASCII letters", "[corpus]") {
  test::TempDir d;
  auto dir = make_corpus(d, "The THE the\n", "tHe\n", "x\n");
  CorpusOptions o;
  o.lowercase = true;
  auto c = load_corpus(dir, o);
  CHECK(c.vocab.words() == std::vector<std::string>{"the", "<eos>", "<unk>"});
  CHECK(c.valid.ids == Ids{0, 1});
}

TEST_CASE("Python whitespace rules: NBSP and ideographic space split but ZWSP does not", "[corpus]") {
  test::TempDir d;
  auto dir = make_corpus(d, "a\xC2\xA0" "b\xE3\x80\x80" "c d\xE2\x80\x8B" "e\x0B" "f\x1F" "g\n", "a\n", "a\n");
  auto c = load_corpus(dir, {});
  CHECK(c.vocab.words() == std::vector<std::string>{"a", "b", "c", "d\xE2\x80\x8B" "e", "f", "g", "<eos>", "<unk>"});
}

TEST_CASE("ptb.train.txt naming is accepted", "[corpus]") {
  test::TempDir d;
  d.write("c/ptb.train.txt", "a b\n");
  d.write("c/ptb.valid.txt", "a\n");
  d.write("c/ptb.test.txt", "b\n");
  auto c = load_corpus(d.file("c"), {});
  CHECK(c.train.size() == 3);
}

TEST_CASE("corpus errors name the file and line", "[corpus]") {
  test::TempDir d;
  SECTION("missing folder") {
    CHECK(corpus_error([&] { load_corpus(d.file("nope"), {}); }) == CorpusErrc::MissingFile);
  }
  SECTION("missing split") {
    d.write("c/train.txt", "a\n");
    d.write("c/valid.txt", "a\n");
    CHECK(corpus_error([&] { load_corpus(d.file("c"), {}); }) == CorpusErrc::MissingFile);
  }
  SECTION("empty train split") {
    auto dir = make_corpus(d, "", "a\n", "a\n");
    CHECK(corpus_error([&] { load_corpus(dir, {}); }) == CorpusErrc::EmptySplit);
  }
  SECTION("invalid UTF-8 with line and column") {
    auto dir = make_corpus(d, "ok\nfine \xC3\x28 here\n", "a\n", "a\n");
    try {
      load_corpus(dir, {});
      FAIL("expected an error");
    } catch (const CorpusError& e) {
      CHECK(e.code() == CorpusErrc::InvalidUtf8);
      CHECK(e.kind() == ErrorKind::Data);
      CHECK_THAT(e.what(), Catch::Contains("train.txt:2:6"));
    }
  }
  SECTION("NUL byte") {
    auto dir = make_corpus(d, "a\n", std::string("x\ny\0z\n", 6), "a\n");
    try {
      load_corpus(dir, {});
      FAIL("expected an error");
    } catch (const CorpusError& e) {
      CHECK(e.code() == CorpusErrc::NulByte);
      CHECK_THAT(e.what(), Catch::Contains("valid.txt:2:2"));
    }
  }
  SECTION("unknown word with a vocabulary that has no <unk>") {
    d.write("x.txt", "a b\nc\n");
    Vocab v({"a", "b", "<eos>"});
    try {
      load_split(d.file("x.txt"), "test", v, false);
      FAIL("expected an error");
    } catch (const CorpusError& e) {
      CHECK(e.code() == CorpusErrc::OutOfVocabulary);
      CHECK_THAT(e.what(), Catch::Contains("x.txt:2") && Catch::Contains("'c'"));
    }
  }
}

TEST_CASE("a line longer than the 1 MiB read chunk and a CRLF split across chunks", "[corpus]") {
  test::TempDir d;
  std::string big;
  for (int i = 0; i < 300000; ++i) big += "w" + std::to_string(i % 7) + " ";  // ~1.2 MB, one line
  std::string train = big + "\n";
  // place a \r exactly at the end of the first chunk
  std::string pad(1048575 - 2, 'p');
  std::string train2 = "x " + pad + "\r\ny\n";
  auto dir = make_corpus(d, train, train2, "w1\n");
  auto c = load_corpus(dir, {});
  CHECK(c.train.size() == 300001);
  CHECK(c.valid.stats.lines == 2);  // \r\n counted once
  CHECK(c.valid.size() == 5);       // x, pad, <eos>, y, <eos>
}

TEST_CASE("batchify matches pytorch/examples on a hand-computed table", "[corpus]") {
  Ids ids(26);
  for (int i = 0; i < 26; ++i) ids[static_cast<std::size_t>(i)] = i;
  auto b = batchify(ids, 4);
  REQUIRE(b.rows == 6);
  REQUIRE(b.cols == 4);
  CHECK(Ids(b.row(0), b.row(0) + 4) == Ids{0, 6, 12, 18});
  CHECK(Ids(b.row(1), b.row(1) + 4) == Ids{1, 7, 13, 19});
  CHECK(Ids(b.row(5), b.row(5) + 4) == Ids{5, 11, 17, 23});
  CHECK(num_windows(b.rows, 4) == 2);
  CHECK(window(b.rows, 4, 0).start == 0);
  CHECK(window(b.rows, 4, 0).seq_len == 4);
  CHECK(window(b.rows, 4, 1).start == 4);
  CHECK(window(b.rows, 4, 1).seq_len == 1);  // rows - 1 - 4
  CHECK(num_windows(b.rows, 35) == 1);
  CHECK(window(b.rows, 35, 0).seq_len == 5);
  CHECK(num_windows(1, 35) == 0);
  CHECK_THROWS_AS(batchify(ids, 0), Error);
}

// Registered as its own ctest (ptb_real_files), which reports "skipped" when the shared files are
// not on the machine; run here, it requires them.
TEST_CASE("the real PTB valid and test files load with the known token counts", "[corpus][ptb]") {
  test::TempDir d;
  const std::string ptb = test::shared_dir() + "/data/ptb";
  REQUIRE(std::filesystem::exists(ptb + "/ptb.valid.txt"));
  std::filesystem::create_directories(d.path() / "c");
  std::filesystem::create_symlink(ptb + "/ptb.valid.txt", d.path() / "c/train.txt");
  std::filesystem::create_symlink(ptb + "/ptb.test.txt", d.path() / "c/valid.txt");
  std::filesystem::create_symlink(ptb + "/ptb.test.txt", d.path() / "c/test.txt");
  auto c = load_corpus(d.file("c"), {});
  CHECK(c.train.size() == 73760);  // Mikolov's PTB valid: 70390 words + 3370 <eos>
  CHECK(c.test.size() == 82430);
  CHECK(c.vocab.unk_id() >= 0);  // PTB carries a literal <unk>
  CHECK(c.vocab.word(0) == "consumers");
  CHECK(c.train.stats.sha256.size() == 64);
  CHECK(c.test.unk_mapped > 0);  // test words never seen in valid
}

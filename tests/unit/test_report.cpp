// Reports: statistics against hand-computed values, llama-bench style list parsing, and lm-bench's
// output formats (JSON parses, CSV header stable, markdown shape).
#include <catch2/catch.hpp>

#include <cmath>

#include "cli/lists.hpp"
#include "core/error.hpp"
#include "helpers.hpp"
#include "nlohmann/json.hpp"
#include "lmbench/bench.hpp"
#include "stats/stats.hpp"

using namespace wordlm;

TEST_CASE("summary statistics match hand-computed values", "[report]") {
  const std::vector<double> v{2, 4, 4, 4, 5, 5, 7, 9};
  const Summary s = summarize(v);
  CHECK(s.n == 8);
  CHECK(s.mean == Approx(5.0));
  CHECK(s.sd == Approx(std::sqrt(32.0 / 7.0)));  // sample sd: sum of squares 32, n - 1 = 7
  CHECK(s.min == 2);
  CHECK(s.max == 9);
  CHECK(s.median == Approx(4.5));               // between the 4th and 5th values
  CHECK(s.p90 == Approx(7 + 0.3 * 2));          // position 0.9 * 7 = 6.3 -> 7 + 0.3 * (9 - 7)
  CHECK(s.p99 == Approx(7 + 0.93 * 2));
  CHECK(percentile({1, 2, 3, 4, 5}, 25) == Approx(2.0));
  CHECK(percentile({10}, 99) == 10);
  CHECK(summarize(std::vector<double>{}).n == 0);
  CHECK(sample_sd(std::vector<double>{3}) == 0);
}

TEST_CASE("perplexity and its error bar follow llama-perplexity", "[report]") {
  NllStats s;
  for (double x : {1.0, 2.0, 3.0, 4.0}) s.add(x);
  CHECK(s.mean() == Approx(2.5));
  CHECK(s.ppl() == Approx(std::exp(2.5)));
  // var = E[x^2] - E[x]^2 = 7.5 - 6.25 = 1.25; err = sqrt(var / (N - 1)) = sqrt(1.25 / 3)
  CHECK(s.mean_err() == Approx(std::sqrt(1.25 / 3)));
  CHECK(s.ppl_err() == Approx(std::exp(2.5) * std::sqrt(1.25 / 3)));
  NllStats one;
  one.add(3.0);
  CHECK(one.ppl_err() == 0);
}

TEST_CASE("integer lists and ranges parse like llama-bench's", "[report]") {
  using cli::parse_int_list;
  using V = std::vector<std::int64_t>;
  CHECK(parse_int_list("1,8,32", "-b") == V{1, 8, 32});
  CHECK(parse_int_list("1-5", "-b") == V{1, 2, 3, 4, 5});
  CHECK(parse_int_list("1-32*2", "-b") == V{1, 2, 4, 8, 16, 32});
  CHECK(parse_int_list("10-35+5", "-s") == V{10, 15, 20, 25, 30, 35});
  CHECK(parse_int_list("1,4-6,64", "-b") == V{1, 4, 5, 6, 64});
  CHECK(parse_int_list("1-40*3", "-b") == V{1, 3, 9, 27});
  // ranges up to the largest int64 stop before the next step would overflow
  const auto doubling = parse_int_list("1-9223372036854775807*2", "-b");
  CHECK(doubling.size() == 63);
  CHECK(doubling.back() == std::int64_t{1} << 62);
  CHECK(parse_int_list("9223372036854775800-9223372036854775807+5", "-b") ==
        V{9223372036854775800, 9223372036854775805});
  for (const char* bad : {"", "a", "1,,2", "5-1", "0", "-3", "1-8*1", "1-8+0", "1.5", "0-8*2"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_int_list(bad, "-b"), Error);
  }
}

TEST_CASE("lm-bench output formats: JSON parses, CSV columns are stable", "[report]") {
  test::TempDir d;
  std::vector<BenchModel> models;
  models.push_back(preset_model("seed", d.file("seed.safetensors")));
  BenchOptions opt;
  opt.reps = 2;
  const std::vector<BenchTest> tests{{BenchKind::Forward, 1, 2}, {BenchKind::Decode, 1, 2}, {BenchKind::Load, 0, 0}};
  const auto res = run_bench(models, tests, {1}, opt);
  REQUIRE(res.size() == 3);
  for (const auto& r : res) {
    CHECK(r.ms.size() == 2);
    CHECK(r.ms_stats.mean > 0);
  }
  CHECK(res[0].tokens == 2);
  CHECK(res[0].tps_stats.mean == Approx(mean_of(std::vector<double>{2e3 / res[0].ms[0], 2e3 / res[0].ms[1]})));
  const auto j = bench_json(models, res, opt);
  const auto reparsed = nlohmann::json::parse(j.dump());
  CHECK(reparsed["results"].size() == 3);
  CHECK(reparsed["results"][0]["test"] == "b1 s2");
  CHECK(reparsed["results"][1]["test"] == "decode b1");
  CHECK(reparsed["results"][0]["samples_ms"].size() == 2);
  CHECK(reparsed["run"].contains("kernel_isa"));
  CHECK(reparsed["models"][0]["params"] == 7523208);  // V5000 E256 H512 L2
  const std::string csv = bench_csv(res);
  CHECK(csv.substr(0, csv.find('\n')) ==
        "impl,model,dtype,size_bytes,params,threads,test,kind,batch,seq,tokens,reps,ms_mean,ms_sd,ms_median,ms_p90,"
        "ms_p99,ms_min,ms_max,tps_mean,tps_sd,tps_median");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
  const std::string md = bench_markdown(res);
  CHECK(md.rfind("| model | size | params | dtype | threads | test | ms | t/s |", 0) == 0);
  CHECK_THAT(md, Catch::Contains("| seed | 30.1"));
  const std::string jl = bench_jsonl(res);
  std::size_t lines = 0, pos = 0;
  while ((pos = jl.find('\n', pos)) != std::string::npos) ++lines, ++pos;
  CHECK(lines == 3);
  CHECK(nlohmann::json::parse(jl.substr(0, jl.find('\n')))["cpu"].is_string());
}

// The tensor table: names, shapes, roles and offsets, and the Python mirror of it
// (scripts/lib/wordlm_spec.py) agreeing with the C++ table for several configs.
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "nlohmann/json.hpp"
#include "spec/presets.hpp"
#include "spec/tensors.hpp"

using namespace wordlm;

namespace {
std::vector<ModelConfig> configs() {
  ModelConfig a{100, 16, 24, 1, false, 0.0f}, b{50, 12, 12, 3, true, 0.1f};
  return {a, b, preset("small").config, preset("seed").config};
}
}  // namespace

TEST_CASE("the tensor table lists PyTorch state-dict names with aligned offsets", "[spec]") {
  const ModelConfig cfg = preset("small").config;
  const auto specs = param_specs(cfg);
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"encoder.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                          "rnn.bias_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1",
                                          "rnn.bias_hh_l1", "decoder.weight", "decoder.bias"});
  for (const auto& s : specs) {
    CHECK(s.offset % 16 == 0);
    CHECK(s.quantizable == s.matrix());
  }
  CHECK(param_count(cfg) == 4653200);
  CHECK(scale_name("rnn.weight_hh_l1") == "rnn.weight_hh_l1_scale");
  ModelConfig tied = cfg;
  tied.tied = true;
  const auto ts = param_specs(tied);
  CHECK(find_param(ts, tied, ParamRole::DecoderWeight).name == "encoder.weight");
  CHECK(find_param(ts, "decoder.weight") == nullptr);
  CHECK(tied_decoder_copy(tied).shape == Shape{10000, 200});
}

TEST_CASE("the Python tensor table mirrors the C++ one", "[spec]") {
  nlohmann::json cfgs = nlohmann::json::array();
  for (const auto& c : configs()) cfgs.push_back(c.to_json());
  const std::string script = test::source_dir() + "/scripts/lib/wordlm_spec.py";
  std::string out;
  REQUIRE(test::run_command("python3 " + script + " '" + cfgs.dump() + "'", &out) == 0);
  const auto py = nlohmann::json::parse(out);
  REQUIRE(py.size() == configs().size());
  std::size_t i = 0;
  for (const auto& c : configs()) {
    const auto& entry = py[i++];
    const auto specs = param_specs(c);
    REQUIRE(entry["specs"].size() == specs.size());
    for (std::size_t k = 0; k < specs.size(); ++k) {
      const auto& p = entry["specs"][k];
      INFO(c.describe() << " " << specs[k].name);
      CHECK(p["name"] == specs[k].name);
      CHECK(p["role"] == role_name(specs[k].role));
      CHECK(p["layer"] == specs[k].layer);
      CHECK(p["shape"].get<Shape>() == specs[k].shape);
      CHECK(p["quantizable"] == specs[k].quantizable);
    }
    if (c.tied) {
      CHECK(entry["tied_copy"]["name"] == tied_decoder_copy(c).name);
      CHECK(entry["tied_copy"]["shape"].get<Shape>() == tied_decoder_copy(c).shape);
    } else {
      CHECK(entry["tied_copy"].is_null());
    }
  }
}

// Checkpoint <-> LstmLM parameter copies, driven by param_specs().
#include "model/convert.hpp"

#include <cstring>
#include <span>

namespace wordlm {

Checkpoint checkpoint_from_model(const LstmLM<float>& m, const std::vector<std::string>& vocab,
                                 const nlohmann::json& provenance) {
  Checkpoint ck;
  ck.config = m.config();
  ck.vocab = vocab;
  ck.provenance = provenance;
  for (const auto& s : m.specs())
    ck.tensors.emplace(s.name, Tensor::from<float>(s.shape, std::span<const float>(m.param(s), s.numel)));
  return ck;
}

void load_model_params(LstmLM<float>& m, const Checkpoint& ck) {
  WORDLM_CHECK(ck.config.to_json() == m.config().to_json(), "checkpoint config differs from the model's");
  for (const auto& s : m.specs()) {
    const Tensor& t = ck.tensor(s.name);
    if (t.dtype() != DType::F32)
      throw_usage("tensor '" + s.name + "' is int8: training and conversion need an fp32 checkpoint");
    std::memcpy(m.param(s), t.data<float>(), sizeof(float) * s.numel);
  }
}

}  // namespace wordlm

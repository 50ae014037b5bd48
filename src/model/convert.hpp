// Model <-> checkpoint: the trainable model's flat parameters to named tensors and back.
#pragma once

#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "model/lstm_lm.hpp"

namespace wordlm {

// An fp32 "model" checkpoint of m's parameters (decoder.weight omitted when tied).
Checkpoint checkpoint_from_model(const LstmLM<float>& m, const std::vector<std::string>& vocab,
                                 const nlohmann::json& provenance);
// Copies every parameter of an fp32 checkpoint into m (whose config must match). Throws Usage if
// the checkpoint holds int8 tensors (training continues from fp32 weights only).
void load_model_params(LstmLM<float>& m, const Checkpoint& ck);

}  // namespace wordlm

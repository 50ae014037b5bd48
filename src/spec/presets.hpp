// Named model presets, each saying what it is for and what it reaches (docs/training.md).
#pragma once

#include <string>
#include <vector>

#include "spec/config.hpp"

namespace wordlm {

struct Preset {
  const char* name;
  const char* about;
  ModelConfig config;
};
const std::vector<Preset>& presets();
const Preset& preset(const std::string& name);  // throws Usage listing the known names

}  // namespace wordlm

// Build facts baked in at build time (version, git revision, build type, compiler, sanitizers),
// so every report and checkpoint can say exactly which binary produced it.
#pragma once

namespace wordlm::build {
extern const char* const kVersion;
extern const char* const kGitRevision;
extern const char* const kBuildType;
extern const char* const kCompiler;
extern const bool kSanitizers;
extern const bool kNative;
}  // namespace wordlm::build

// What the tools share at the command-line level (and nothing below the apps uses):
// running a tool with uniform error handling and exit codes, logging and progress on stderr,
// SIGINT as a stop request, results to stdout or an --output file.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json_fwd.hpp"

namespace wordlm::cli {

// Sets up what every tool answers the same way: --version (version, git revision, build type,
// compiler and the kernel ISA in use; exit 0, GNU convention) and a help footer saying what -o
// means in this tool (o_meaning; empty: the tool has no -o).
void setup_app(CLI::App& app, const std::string& o_meaning);
std::string version_text(const std::string& tool);

// The JSON report option every tool has: --report FILE ('-' = stdout), plus hidden aliases for
// the spellings a tool used before (e.g. "-o,--output"). Returns the visible option.
CLI::Option* add_report_option(CLI::App& app, std::string& report, const std::string& aliases = "");

// Parses argv with `app` and runs body(). Maps: --help/--version -> 0, CLI11 parse errors -> 64,
// wordlm::Error -> its kind's exit code, std::bad_alloc -> 71 ("out of memory", EX_OSERR), anything else
// -> 70. Messages go to stderr as "<tool>: error: ...".
int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

// Standard options every tool has: -t/--threads, -q/--quiet, -v/--verbose. Call before parsing;
// apply() after parsing (sets the log level, validates threads).
struct CommonOptions {
  enum class Threads { None, One, List };  // no -t, -t N, or -t LIST (lm-bench: several counts)
  int threads = -1;  // unset -> all hardware threads; 0 or less given explicitly is an error
  bool threads_given = false;  // -t was on the command line (so -t -1 is refused too)
  std::string thread_list = "1";  // Threads::List: llama-bench style list, e.g. 1,2 or 1-4
  bool quiet = false, verbose = false;
  void add(CLI::App& app, Threads t = Threads::One);
  void apply();
  int thread_count() const;  // resolved
  std::vector<int> thread_counts() const;  // Threads::List, resolved and checked
};

// A seed: decimal digits that fit 64 bits unsigned (CLI11 alone would wrap -1 or 2^64 into one value).
CLI::Validator seed_check();

// Logging to stderr (plain lines, no prefixes: the tools' lines are meant to be read).
void log_line(const std::string& s);
void log_info(const std::string& s);   // suppressed by --quiet
void log_warn(const std::string& s);   // "warning: ..."
void log_debug(const std::string& s);  // only with --verbose

// A single live status line on a terminal (stderr is a TTY and not --quiet); log_* calls clear it
// first, so progress and log lines never interleave. No-op otherwise.
void progress(const std::string& s);
void progress_done();

// SIGINT/SIGTERM set this flag (the first time); a second SIGINT terminates immediately.
// also_usr1: SIGUSR1 too (mpirun forwards SIGUSR1 to every rank, but answers SIGINT and SIGTERM
// by killing them within a second: SIGUSR1 is how a data-parallel run is stopped gracefully).
const std::atomic<bool>& install_stop_handler(bool also_usr1 = false);

// Writes JSON (pretty) to stdout ("-" or empty) or atomically to a file.
void emit_json(const nlohmann::json& j, const std::string& output);
void emit_text(const std::string& text, const std::string& output);

// Every output of a tool against every input and every other output, before any work: an output
// that is an input or another output is refused (64: one file would silently replace the other),
// one that cannot be created (missing or read-only folder, a directory) fails with 73. Empty paths
// and "-" (stdout) are skipped.
struct NamedPath {
  std::string what;  // the flag, e.g. "--report"
  std::string path;
};
void check_paths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs);

std::string human_bytes(double bytes);
std::string human_seconds(double s);

}  // namespace wordlm::cli

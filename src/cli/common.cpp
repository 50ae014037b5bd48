// Shared CLI plumbing.
#include "cli/common.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <new>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "cli/lists.hpp"
#include "core/buildinfo.hpp"
#include "core/threads.hpp"
#include "kernels/kernels.hpp"
#include "fmt/format.h"
#include "runinfo/runinfo.hpp"

namespace wordlm::cli {

namespace {
enum class Level { Quiet, Info, Debug };
Level g_level = Level::Info;
std::mutex g_mu;
bool g_progress_shown = false;
std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};

bool stderr_tty() {
  static const bool tty = ::isatty(2) == 1;
  return tty;
}

void clear_progress_locked() {
  if (g_progress_shown) {
    std::fputs("\r\033[K", stderr);
    g_progress_shown = false;
  }
}

void write_line(const std::string& s) {
  std::lock_guard<std::mutex> lk(g_mu);
  clear_progress_locked();
  std::fputs(s.c_str(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
  g_stop.store(true);
}
}  // namespace

void log_line(const std::string& s) { write_line(s); }
void log_info(const std::string& s) {
  if (g_level != Level::Quiet) write_line(s);
}
void log_warn(const std::string& s) {
  if (g_level != Level::Quiet) write_line("warning: " + s);
}
void log_debug(const std::string& s) {
  if (g_level == Level::Debug) write_line(s);
}

void progress(const std::string& s) {
  if (!stderr_tty() || g_level == Level::Quiet) return;
  std::lock_guard<std::mutex> lk(g_mu);
  std::fputs("\r\033[K", stderr);
  std::fputs(s.c_str(), stderr);
  std::fflush(stderr);
  g_progress_shown = true;
}

void progress_done() {
  std::lock_guard<std::mutex> lk(g_mu);
  clear_progress_locked();
  std::fflush(stderr);
}

const std::atomic<bool>& install_stop_handler(bool also_usr1) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (also_usr1) sigaction(SIGUSR1, &sa, nullptr);
  return g_stop;
}

CLI::Validator seed_check() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size())
          return "a seed is a whole number from 0 to 18446744073709551615, not '" + s + "'";
        return {};
      },
      "SEED");
}

void CommonOptions::add(CLI::App& app, Threads t) {
  if (t == Threads::One)
    app.add_option("-t,--threads", threads, "Worker threads, 1..256 (default: all cores)")->each([this](const std::string&) {
      threads_given = true;
    });
  if (t == Threads::List)
    app.add_option("-t,--threads", thread_list, "Thread counts: a list or range, e.g. 1,2 or 1-4")->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr (no logs, warnings or progress)");
  app.add_flag("-v,--verbose", verbose, "More detail on stderr");
}

std::vector<int> CommonOptions::thread_counts() const {
  std::vector<int> out;
  for (auto t : parse_int_list(thread_list, "-t")) {
    if (t > 256) throw_usage("-t: " + std::to_string(t) + " threads is more than this tool supports (256)");
    out.push_back(static_cast<int>(t));
  }
  return out;
}

std::string version_text(const std::string& tool) {
  return fmt::format("{} (wordlm) {}\ngit revision {}\nbuild type {}{}\ncompiler {}\nkernel ISA {}", tool, build::kVersion,
                     build::kGitRevision, build::kBuildType, build::kSanitizers ? " (ASan+UBSan)" : "", build::kCompiler,
                     kernels::isa_name(kernels::active_isa()));
}

void setup_app(CLI::App& app, const std::string& o_meaning) {
  const std::string tool = app.get_name();
  app.set_version_flag("--version", [tool] { return version_text(tool); }, "Print version, git revision, build and kernel ISA, then exit");
  std::string footer = "The JSON report goes to --report FILE ('-' = stdout). ";
  footer += o_meaning.empty() ? std::string("This tool has no -o.") : "-o here means: " + o_meaning + ".";
  footer += "\nExit codes: 0 ok, 64 usage, 65 bad data, 66 missing input, 73/74 output errors (README).";
  app.footer(footer);
}

CLI::Option* add_report_option(CLI::App& app, std::string& report, const std::string& aliases) {
  CLI::Option* o = app.add_option("--report", report, "Write the JSON report here ('-' = stdout)")->capture_default_str();
  if (!aliases.empty()) app.add_option(aliases, report, "")->group("");  // hidden: earlier spellings
  return o;
}

void CommonOptions::apply() {
  g_level = quiet ? Level::Quiet : verbose ? Level::Debug : Level::Info;
  if ((threads_given || threads != -1) && threads < 1) throw_usage("--threads must be at least 1 (got " + std::to_string(threads) + ")");
  if (threads > 256) throw_usage(fmt::format("--threads {} is more than this tool supports (256)", threads));
  if (const std::string w = build_warning(); !w.empty()) log_warn(w);
  if (g_level == Level::Debug) {
    const nlohmann::json ri = run_info(thread_count());
    log_debug(fmt::format("wordlm {} ({}, {}, {}) | kernels {} | cpu {} | {} hardware threads, {} in use | {}",
                          build::kVersion, build::kGitRevision, build::kBuildType, build::kCompiler,
                          ri["kernel_isa"].get<std::string>(), ri["cpu"].get<std::string>(), hardware_threads(),
                          thread_count(), ri["openblas"]["config"].get<std::string>()));
  }
}

int CommonOptions::thread_count() const { return threads > 0 ? threads : hardware_threads(); }

int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  const std::string tool = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const bool info = dynamic_cast<const CLI::CallForHelp*>(&e) || dynamic_cast<const CLI::CallForAllHelp*>(&e) ||
                      dynamic_cast<const CLI::CallForVersion*>(&e);
    if (info) {  // --help / --version on stdout: a failed write is an I/O error (74), as for results
      const int rc = app.exit(e);
      std::cout.flush();
      if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::cerr << tool + ": error: cannot write to stdout\n";
        return exit_code(ErrorKind::Io);
      }
      return rc;
    }
    std::fflush(stdout);
    std::cerr << tool + ": error: " + e.what() + "\nRun with --help for more information.\n";
    return exit_code(ErrorKind::Usage);
  }
  try {
    const auto start = std::chrono::steady_clock::now();
    const int rc = body();
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    log_debug(fmt::format("{}: done in {} (exit {}) | cpu {:.2f} s user, {:.2f} s system | peak memory {}", tool,
                          human_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()),
                          rc, double(ru.ru_utime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec),
                          double(ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_stime.tv_usec),
                          human_bytes(1024.0 * double(ru.ru_maxrss))));
    return rc;
  } catch (const Error& e) {
    progress_done();
    std::cerr << tool + ": error: " + e.what() + "\n";  // one write: ranks of an MPI job share stderr
    return exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    progress_done();
    std::cerr << tool + ": error: out of memory (are the sizes asked for larger than this machine holds?)\n";
    return exit_code(ErrorKind::OutOfMemory);
  } catch (const std::exception& e) {
    progress_done();
    std::cerr << tool + ": error: internal: " + e.what() + "\n";
    return exit_code(ErrorKind::Internal);
  }
}

void emit_text(const std::string& text, const std::string& output) {
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (std::ferror(stdout)) throw Error(ErrorKind::Io, "stdout: write failed");
    return;
  }
  write_file_atomic(output, text);
}

void emit_json(const nlohmann::json& j, const std::string& output) { emit_text(json_text(j), output); }

void check_paths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs) {
  // stdout, and devices such as /dev/null (which may take several outputs), are not files to compare
  auto skipped = [](const std::string& p) {
    std::error_code ec;
    const auto st = std::filesystem::status(p, ec);
    return p.empty() || p == "-" ||
           (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st) &&
            !std::filesystem::is_directory(st));
  };
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& o = outputs[i];
    if (skipped(o.path)) continue;
    for (const NamedPath& in : inputs)
      if (!skipped(in.path) && same_path(in.path, o.path))
        throw_usage(fmt::format("{} {} is the same file as the input {} {}", o.what, o.path, in.what, in.path));
    for (std::size_t k = 0; k < i; ++k)
      if (!skipped(outputs[k].path) && same_path(outputs[k].path, o.path))
        throw_usage(fmt::format("{} and {} name the same file {}: one would replace the other", outputs[k].what, o.what,
                                o.path));
    check_can_create(o.path);  // (also refuses a folder)
  }
}

std::string human_bytes(double b) {
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.2f} MB", b / 1e6);
  if (b >= 1e3) return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{:.0f} B", b);
}

std::string human_seconds(double s) {
  if (s < 1) return fmt::format("{:.0f} ms", s * 1e3);
  if (s < 120) return fmt::format("{:.1f} s", s);
  if (s < 7200) return fmt::format("{}m{:02d}s", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return fmt::format("{}h{:02d}m", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
}

}  // namespace wordlm::cli

// lm-train: trains a word-level LSTM language model on a PTB-style corpus folder, with the flags
// and log lines of pytorch/examples word_language_model/main.py. Parse -> train() -> report.
// Under mpirun (a build with WORDLM_MPI) every rank runs this same program: synchronous
// data-parallel training over the ranks (train/data_parallel.hpp); rank 0 logs and writes.
#include <algorithm>
#include <cmath>

#include "io/checkpoint.hpp"
#include "spec/presets.hpp"
#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/timer.hpp"
#include "core/collective.hpp"
#include "core/threads.hpp"
#include "data/corpus.hpp"
#include "dist/session.hpp"
#include "fmt/format.h"
#include "spec/tensors.hpp"
#include "train/data_parallel.hpp"
#include "train/trainer.hpp"

using namespace wordlm;

int main(int argc, char** argv) {
  dist::Session session(&argc, &argv);  // joins the MPI job when mpirun started this process
  CLI::App app{"lm-train: train a word-level LSTM language model (embedding -> LSTM -> linear) on a PTB-style corpus.\n"
               "Logs go to stderr; the JSON report goes to stdout, or to --report FILE.",
               "lm-train"};
  cli::CommonOptions common;
  TrainOptions o;
  std::string data, preset_name, optimizer = "sgd", vocab_from = "train", rnn_type = "LSTM", report = "-";
  std::string lr_scaling = "none", exchange = "sparse", gradient_exchange = "auto";
  double lr = -1;
  bool dry_run = false;
  app.add_option("--data", data, "Corpus folder with train.txt, valid.txt, test.txt (or ptb.*.txt)")->required();
  app.add_option("--model", rnn_type, "Recurrent unit (LSTM only)")->capture_default_str();
  app.add_option("--preset", preset_name, "Model sizes from a preset: small (2x200), medium (2x650), seed (V5000 256/512)");
  app.add_option("--emsize", o.model.emsize, "Size of word embeddings")->capture_default_str();
  app.add_option("--nhid", o.model.nhid, "Number of hidden units per layer")->capture_default_str();
  app.add_option("--nlayers", o.model.nlayers, "Number of layers")->capture_default_str();
  app.add_option("--lr", lr, "Initial learning rate (default 20 for sgd, 0.001 for adam/adamw; with --qat 0.08 "
                            "for sgd, 1e-4 for adam/adamw)");
  app.add_option("--clip", o.clip, "Gradient clipping (max total L2 norm; 0 disables)")->capture_default_str();
  app.add_option("--epochs", o.epochs, "Upper epoch limit (with --qat the default is 1)")->capture_default_str();
  app.add_option("--batch_size,--batch-size", o.batch, "Batch size")->capture_default_str();
  app.add_option("--eval-batch-size,--eval_batch_size", o.eval_batch, "Batch size for validation and test")->capture_default_str();
  app.add_option("--bptt", o.bptt, "Sequence length (BPTT window)")->capture_default_str();
  app.add_option("--dropout", o.model.dropout, "Dropout applied to layers (0 = no dropout)")->capture_default_str();
  app.add_flag("--tied", o.model.tied, "Tie the word embedding and softmax weights (needs emsize == nhid)");
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str()->check(cli::seed_check());
  app.add_option("--log-interval,--log_interval", o.log_interval, "Report interval (batches)")->capture_default_str();
  app.add_option("--save", o.save, "Path to save the best model (safetensors)")->capture_default_str();
  app.add_option("--save-resume", o.save_resume, "Resume checkpoint path (default: <save>.resume.safetensors)");
  app.add_option("--resume", o.resume, "Continue training from a resume checkpoint (its hyperparameters and corpus options are kept)");
  app.add_option("--optimizer", optimizer, "sgd (pytorch/examples), adam or adamw")->capture_default_str();
  app.add_option("--weight-decay,--weight_decay", o.optim.weight_decay, "Weight decay (L2 for sgd/adam, decoupled for adamw)")->capture_default_str();
  app.add_option("--max-minutes", o.max_minutes, "Time budget: stop after the batch that crosses it; a partial epoch is validated and kept if better (0 = none)")->capture_default_str();
  app.add_option("--max-batches", o.max_batches, "Stop after this many batches, like a time budget (0 = no limit)")->capture_default_str();
  app.add_option("--init", o.init, "Start from this fp32 model checkpoint's weights (its sizes are used; fine-tuning, --qat)");
  app.add_flag("--qat", o.qat.on, "Quantization-aware training: fake-quantized weights in the forward (as lm-quantize "
                                  "rounds them), straight-through gradients, validation on the quantized model; use with --init");
  app.add_option("--bits", o.qat.bits, "With --qat: weight bits, 4 or 8")->capture_default_str();
  app.add_option("--group", o.qat.group, "With --qat --bits 4: group size along the inputs (0: lm-quantize's default)")
      ->capture_default_str();
  app.add_flag("--qat-embedding", o.qat.embedding, "With --qat: quantize the embedding too (lm-quantize --embedding)");
  bool weights_only = false;
  app.add_flag("--qat-weights-only", weights_only,
               "With --qat: fake-quantize the weights only, not the products' inputs (by default they are, per row "
               "to 7 bits, as the run-time kernels do)");
  app.add_option("--lr-scaling", lr_scaling, "none, or linear: multiply --lr by batch size / --lr-base-batch "
                 "(large batches, e.g. many processes; Goyal et al. 2017)")->capture_default_str();
  app.add_option("--lr-base-batch", o.lr_scaling.base_batch, "With --lr-scaling linear: the batch size --lr is meant for")
      ->capture_default_str();
  app.add_option("--warmup-steps", o.lr_scaling.warmup_steps, "With --lr-scaling linear: ramp from --lr to the scaled "
                 "rate over this many steps (0 = none)")->capture_default_str();
  app.add_option("--embedding-exchange", exchange, "Under mpirun: sparse (only the embedding rows of the batch's "
                 "words travel; untied models) or dense (the whole table)")->capture_default_str();
  app.add_option("--gradient-exchange", gradient_exchange, "Under mpirun: auto (when every process is on one "
                 "machine, they share one copy of the parameters in shared memory and each sums and updates its "
                 "slice; else MPI allreduce) or allreduce (always)")->capture_default_str();
  app.add_flag("--profile", o.profile, "Log where a training step spends its time (per phase) at the end");
  app.add_flag("--dry-run", dry_run, "Verify the setup: stop after 2 batches (then validate, save, test)");
  cli::add_report_option(app, report);
  app.add_option("--vocab-from", vocab_from, "Build the vocabulary from 'train' or 'all' splits (pytorch/examples parity)")->capture_default_str();
  app.add_option("--max-vocab", o.corpus.max_vocab, "Keep the N most frequent words, map the rest to <unk> (0 = all)")->capture_default_str();
  app.add_flag("--lowercase", o.corpus.lowercase, "Lowercase ASCII letters while reading the corpus");
  common.add(app);
  cli::setup_app(app, "");

  const int rc = cli::run(app, argc, argv, [&]() -> int {
    Collective& ranks = session.collective();
    const bool lead = ranks.rank() == 0;  // rank 0 alone logs and writes
    if (!lead) common.quiet = true;
    common.apply();
    if (lr_scaling != "none" && lr_scaling != "linear") throw_usage("--lr-scaling must be none or linear");
    o.lr_scaling.linear = lr_scaling == "linear";
    if (!o.lr_scaling.linear && (app.count("--lr-base-batch") || app.count("--warmup-steps")))
      throw_usage("--lr-base-batch and --warmup-steps apply to --lr-scaling linear only");
    DataParallelSync dp(ranks, parse_exchange(exchange), parse_gradient_exchange(gradient_exchange));
    if (rnn_type != "LSTM") throw_usage("--model " + rnn_type + ": only LSTM is supported");
    o.optim.kind = parse_optimizer(optimizer);
    if (!preset_name.empty()) {
      const auto& p = preset(preset_name).config;
      auto given = [&](const char* flag) { return app.count(flag) > 0; };
      if (!given("--emsize")) o.model.emsize = p.emsize;
      if (!given("--nhid")) o.model.nhid = p.nhid;
      if (!given("--nlayers")) o.model.nlayers = p.nlayers;
      if (!given("--dropout")) o.model.dropout = p.dropout;
    }
    if (!o.qat.on && (app.count("--bits") || app.count("--group") || app.count("--qat-embedding") ||
                      app.count("--qat-weights-only")))
      throw_usage("--bits, --group, --qat-embedding and --qat-weights-only apply to --qat only");
    o.qat.activations = !weights_only;
    if (o.qat.on && o.init.empty() && o.resume.empty())
      throw_usage("--qat fine-tunes a trained model: give it with --init FP32.safetensors");
    if (o.qat.bits != 4 && o.qat.bits != 8) throw_usage("--bits must be 4 or 8");
    if (!o.init.empty() && !o.resume.empty())
      throw_usage("--init and --resume exclude each other (a resume checkpoint holds the weights)");
    if (vocab_from != "train" && vocab_from != "all") throw_usage("--vocab-from must be train or all");
    o.corpus.vocab_from = vocab_from == "all" ? VocabFrom::All : VocabFrom::Train;
    if (o.corpus.max_vocab < 0) throw_usage("--max-vocab must be >= 0");
    // --qat defaults, measured (docs/quantization.md, QAT sweep): on the converged small model
    // (whose schedule had annealed to 20 / 4^4 = 0.078), one epoch of 4-bit QAT at lr 1.25 / 0.3 /
    // 0.08 / 0.02 validated 152.68 / 151.39 / 150.62 / 150.65, and further epochs at 0.08 only
    // validated worse (150.75, 151.00): one epoch at 0.08.
    o.lr = lr >= 0 ? lr : (o.optim.kind == OptimizerKind::Sgd ? (o.qat.on ? 0.08 : 20.0) : (o.qat.on ? 1e-4 : 0.001));
    if (o.qat.on && !app.count("--epochs")) o.epochs = 1;
    if (app.count("--lr") && !(lr > 0)) throw_usage("--lr must be a positive number");
    if (dry_run) o.epochs = 1;
    // under mpirun the ranks of a machine share its cores
    o.threads = common.threads > 0 ? common.threads : std::max(1, hardware_threads() / session.local_processes());
    Timer t;
    Corpus corpus;
    // What each process reads itself (every node needs the files): when one cannot, all stop.
    all_or_none(ranks, [&] {
      if (!o.init.empty()) {
        const Checkpoint ck = load_checkpoint(o.init);
        if (ck.is_quantized() || ck.kind != "model")
          throw_usage("--init " + o.init + ": give the fp32 model checkpoint (lm-train --save), not a quantized or resume file");
        const double dropout = o.model.dropout;
        o.model = ck.config;
        if (app.count("--dropout")) o.model.dropout = dropout;
      }
      if (!o.resume.empty()) {
        // what the resume checkpoint restores (its hyperparameters, model and corpus options): the
        // same flags given again are ignored, and said to be
        std::string ignored;
        for (const char* flag : {"--model", "--preset", "--emsize", "--nhid", "--nlayers", "--dropout", "--tied", "--lr",
                                 "--clip", "--batch_size", "--eval-batch-size", "--bptt", "--seed", "--optimizer",
                                 "--weight-decay", "--qat", "--bits", "--group", "--qat-embedding", "--qat-weights-only",
                                 "--lr-scaling", "--lr-base-batch", "--warmup-steps", "--vocab-from", "--max-vocab",
                                 "--lowercase"})
          if (app.count(flag)) ignored += (ignored.empty() ? "" : ", ") + std::string(flag);
        if (lead && !ignored.empty())
          cli::log_warn("--resume continues the run with the settings it was started with; ignored: " + ignored);
        const std::int64_t epochs = o.epochs;
        const ResumedModel kept = apply_resume_settings(o.resume, o);
        o.epochs = epochs;
        // the run goes on saving its best model where it did, and rewriting the resume file it came from
        if (!app.count("--save") && !kept.path.empty()) o.save = kept.path;
        if (!app.count("--save-resume")) o.save_resume = o.resume;
        if (lead && app.count("--save") && !kept.path.empty() && file_exists(kept.path) && !same_path(o.save, kept.path))
          throw_usage(fmt::format("--save {}: this run keeps its best model in {}, which its validation history "
                                  "refers to; resume without --save",
                                  o.save, kept.path));
        if (lead && kept.has_saved && !file_exists(o.save))
          throw_usage(fmt::format("the best model of the run being resumed is not at {}{}", o.save,
                                  app.count("--save") ? "" : "; give --save with its path"));
      }
      {
        ModelConfig shape = o.model;  // the vocabulary size comes from the corpus later
        shape.vocab_size = 1;
        shape.validate(ErrorKind::Usage);
      }
      corpus = load_corpus(data, o.corpus);
      if (lead)  // rank 0 alone writes; before the corpus is trained on, so a bad path costs no run
        cli::check_paths({{"--data", corpus.train.path}, {"--data", corpus.valid.path}, {"--data", corpus.test.path},
                          {"--init", o.init}},
                         {{"--save", o.save},
                          {"--save-resume", o.save_resume.empty() ? default_resume_path(o.save) : o.save_resume},
                          {"--report", report}});
      if (lead)  // (the resume checkpoint is rewritten in place as the run goes on: only these two may not be it)
        cli::check_paths({{"--resume", o.resume}}, {{"--save", o.save}, {"--report", report}});
    });
    cli::log_info(fmt::format("corpus {}: vocab {} | train {} tokens | valid {} ({} <unk>) | test {} ({} <unk>) | loaded in {}",
                              data, corpus.vocab.size(), corpus.train.size(), corpus.valid.size(), corpus.valid.unk_mapped,
                              corpus.test.size(), corpus.test.unk_mapped, cli::human_seconds(t.seconds())));
    o.model.vocab_size = corpus.vocab.size();
    cli::log_info(fmt::format("model: {} | {} parameters | optimizer {} lr {} clip {} | batch {} bptt {} | {} threads",
                              o.model.describe(), param_count(o.model), optimizer_name(o.optim.kind), o.lr, o.clip,
                              o.batch, o.bptt, o.threads));
    if (ranks.size() > 1 && o.batch % ranks.size() == 0)  // (else train() says why not; the trainer logs the exchange)
      cli::log_info(fmt::format("data-parallel: {} processes x {} threads, {} of the {} columns each | gradient exchange {} "
                                "| embedding exchange {} | {}",
                                ranks.size(), o.threads, o.batch / ranks.size(), o.batch, gradient_exchange,
                                o.model.tied                        ? "dense (tied weights)"
                                : o.qat.on && o.qat.embedding       ? "dense (quantization-aware embedding)"
                                                                    : exchange,
                                session.mpi_version()));
    o.stop = &cli::install_stop_handler(/*also_usr1=*/true);
    o.log = [](const std::string& s) { cli::log_info(s); };
    o.progress = [](const TrainProgress& p) {
      cli::progress(fmt::format("epoch {} | {:5d}/{:5d} batches | loss {:5.2f} | {:6.0f} tok/s | {}", p.epoch, p.batch,
                                p.batches, p.loss, p.tokens_per_sec, cli::human_seconds(p.elapsed)));
    };
    if (dry_run) o.max_batches = 2;  // one epoch (set above) of at most two batches
    TrainSeams seams;
    if (ranks.size() > 1) seams.sync = &dp;
    const auto report_json = to_json(train(corpus, o, seams));
    cli::progress_done();
    if (lead) cli::emit_json(report_json, report);
    return 0;
  });
  return session.finish(rc);
}

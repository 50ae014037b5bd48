// lm-train's report of a run: TrainResult -> JSON (the records' field lists, train/records.hpp,
// give the nested parts), and the names the report uses.
#include "runinfo/runinfo.hpp"
#include "spec/tensors.hpp"
#include "train/trainer.hpp"

namespace wordlm {

using json = nlohmann::json;

const char* stop_reason_name(StopReason r) noexcept {
  switch (r) {
    case StopReason::Completed: return "completed";
    case StopReason::Interrupted: return "interrupted";
    case StopReason::TimeBudget: return "time budget";
    case StopReason::BatchLimit: return "batch limit";
  }
  return "?";
}

json to_json(const TrainResult& r) {
  json report = {{"tool", "lm-train"},
                 {"run", run_info(r.options.threads)},
                 {"config", r.options.model.to_json()},
                 {"parameters", param_count(r.options.model)},
                 {"hyperparameters", fields::write_fields(r.options)},
                 {"corpus", r.corpus},
                 {"corpus_options", fields::write_fields(r.options.corpus)},
                 {"threads", r.options.threads},
                 {"ranks", r.ranks},
                 {"epochs", fields::to_value(r.epochs)},
                 {"partial_epoch", fields::to_value(r.partial_epoch)},
                 {"curve", fields::to_value(r.curve)},
                 {"best_valid_loss", r.best_valid_loss},
                 {"best_valid_ppl", r.best_valid_ppl},
                 {"start_valid_ppl", r.start_valid_ppl ? json(*r.start_valid_ppl) : json(nullptr)},
                 {"test_loss", r.test_loss},
                 {"test_ppl", r.test_ppl},
                 {"test_ppl_err", r.test_ppl_err},
                 {"test_tokens", r.test_tokens},
                 {"total_seconds", r.total_seconds},
                 {"train_tokens", r.train_tokens},
                 {"train_seconds", r.train_seconds},
                 {"train_tokens_per_sec", r.train_tokens_per_sec},
                 {"stop_reason", stop_reason_name(r.stop_reason)},
                 {"save", r.options.save},
                 {"save_resume", r.options.save_resume}};
  if (!r.data_parallel.is_null()) report["data_parallel"] = r.data_parallel;
  if (!r.profile.empty()) {
    json p = json::array();
    for (const auto& [name, sec] : r.profile)
      p.push_back({{"phase", name}, {"ms_per_batch", 1e3 * sec / double(r.profile_batches)}});
    report["profile"] = p;
  }
  return report;
}

}  // namespace wordlm

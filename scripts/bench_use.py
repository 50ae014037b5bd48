#!/usr/bin/env python3
"""Speed of using a model, side by side in one run (interleaved rounds, medians with spread):

  generation: lm-generate's time per generated word (sampling included) against lm-bench's
              decode latency on the same model, and a PyTorch generation loop (quantize_dynamic,
              the same weights, the same sampler: scripts/pytorch_use.py generate);
  scoring:    lm-score's tokens/s on a sentence file against lm-eval --file on the same model and
              threads, and PyTorch batched scoring (scripts/pytorch_use.py score).

  scripts/bench_use.py --fp32 small.safetensors --int8 small.int8.safetensors \
      --sentences ../shared/data/ptb/ptb.test.txt --rounds 5 [--threads 1] [--no-torch] [--report F]
Prints a Markdown table on stdout; --report writes every sample as JSON.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd, report):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(report) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--fp32", required=True, help="fp32 checkpoint (PyTorch loads it and quantizes it itself)")
    ap.add_argument("--int8", required=True, help="the same model quantized by lm-quantize")
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--words", type=int, default=1000)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--report")
    a = ap.parse_args()
    b = os.path.abspath(a.build)
    t = str(a.threads)
    tmp = tempfile.mkdtemp()
    rep = os.path.join(tmp, "r.json")
    s = {k: [] for k in ("decode", "generate", "generate_topk", "torch_generate", "score", "eval", "torch_score")}
    for r in range(a.rounds):
        print(f"bench_use: round {r + 1}/{a.rounds}", file=sys.stderr)
        d = run_json([f"{b}/lm-bench", "-m", a.int8, "--tests", "decode", "-t", t, "-r", "5", "--decode-tokens", "256",
                      "--report", rep], rep)
        s["decode"].append(d["results"][0]["ms"]["median"])
        g = run_json([f"{b}/lm-generate", "-m", a.int8, "-t", t, "-n", str(a.words), "--seed", str(r + 1),
                      "--outf", os.path.join(tmp, "g.txt"), "--report", rep], rep)
        s["generate"].append(g["timing"]["ms_per_token"])
        g = run_json([f"{b}/lm-generate", "-m", a.int8, "-t", t, "-n", str(a.words), "--seed", str(r + 1), "--top-k", "40",
                      "--top-p", "0.9", "--outf", os.path.join(tmp, "g.txt"), "--report", rep], rep)
        s["generate_topk"].append(g["timing"]["ms_per_token"])
        sc = run_json([f"{b}/lm-score", "-m", a.int8, "-t", t, a.sentences, "-o", os.path.join(tmp, "s.jsonl"),
                       "--report", rep], rep)
        s["score"].append(sc["tokens_per_sec"])
        ev = run_json([f"{b}/lm-eval", "-m", a.int8, "-t", t, "--file", a.sentences, "--report", rep], rep)
        s["eval"].append(ev["tokens_per_sec"])
        if not a.no_torch:
            py = ["/usr/bin/python3", os.path.join(HERE, "pytorch_use.py")]
            out = subprocess.run(py + ["generate", "-m", a.fp32, "--int8", "--threads", t, "--words", "300",
                                       "--seed", str(r + 1)], check=True, capture_output=True, text=True).stdout
            s["torch_generate"].append(json.loads(out)["ms_per_token"])
            out = subprocess.run(py + ["score", "-m", a.fp32, "--int8", "--threads", t, "--file", a.sentences],
                                 check=True, capture_output=True, text=True).stdout
            s["torch_score"].append(json.loads(out)["tokens_per_sec"])

    def cell(k, fmt="{:.3f}"):
        v = s[k]
        if not v:
            return "-"
        return f"{fmt.format(statistics.median(v))} [{fmt.format(min(v))}..{fmt.format(max(v))}]"

    med = {k: statistics.median(v) for k, v in s.items() if v}
    print(f"| int8, {a.threads} thread(s), {a.rounds} rounds | median [min..max] | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| lm-bench decode, ms/token | {cell('decode')} | |")
    print(f"| lm-generate (T=1, full vocabulary), ms/word | {cell('generate')} | {med['generate'] / med['decode']:.3f}x decode |")
    print(f"| lm-generate (top-k 40, top-p 0.9), ms/word | {cell('generate_topk')} | {med['generate_topk'] / med['decode']:.3f}x decode |")
    if "torch_generate" in med:
        print(f"| PyTorch generation loop, ms/word | {cell('torch_generate')} | lm-generate {med['torch_generate'] / med['generate']:.1f}x faster |")
    print(f"| lm-eval --file, tokens/s | {cell('eval', '{:.0f}')} | |")
    print(f"| lm-score, tokens/s | {cell('score', '{:.0f}')} | {med['score'] / med['eval']:.2f}x lm-eval |")
    if "torch_score" in med:
        print(f"| PyTorch batched scoring, tokens/s | {cell('torch_score', '{:.0f}')} | lm-score {med['score'] / med['torch_score']:.1f}x faster |")
    if a.report:
        with open(a.report, "w") as f:
            json.dump({"threads": a.threads, "rounds": a.rounds, "samples": s}, f, indent=1)


if __name__ == "__main__":
    main()

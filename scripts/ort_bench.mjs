#!/usr/bin/env node
// ONNX Runtime's side of lm-bench: the same tests (forward b x s, decode with the state carried,
// eval throughput over a split, load time) on graphs written by scripts/export_onnx.py (export
// them with --log-softmax: lm-bench's forward, decode and eval include the log-softmax), with
// explicit intra-op threads, emitting lm-bench's JSON schema (impl "ort") so that
// scripts/bench_compare.py and scripts/report.py merge it with wordlm's and PyTorch's runs.
// One process measures one thread setting; run it once per setting.
//
//   node scripts/ort_bench.mjs -m runs/onnx/small.onnx -m runs/onnx/small.int8.7.onnx --tests forward,decode,eval,load \
//        -b 1 -s 10 --data data/brown --eval-tokens 20000 --threads 1 --label small.safetensors
//
// -m FILE      a sequence graph (repeatable); the decode test runs FILE's one-step graph
//              (FILE with .onnx -> .decode.onnx) when it exists, else the sequence graph with T = 1
// --label L    the model name in the results (default: the checkpoint the graph was exported
//              from; give the fp32 model's name to line ORT's rows up with lm-bench --int8's)
// dtype "fp32" or "int8 u8" / "int8 s7" / "int8 s8" (int8+emb when the embedding is int8: the
// exporter's int8 weight encodings, docs/onnx.md), engine the encoding.
// Tests: forward (-b, -s lists; ids drawn from a seeded generator, zero state), decode
// (--decode-tokens steps, time per token), eval (--data, --split, --eval-batch, --bptt,
// --eval-tokens; NLL summed from the log-probs, state carried; the result also carries the
// perplexity, as lm-eval computes it on the same tokens), load (session creation: parse,
// optimize, pre-pack). -r runs after one warm-up run (--no-warmup). -o json (default) or md.
// Exit codes: 0 ok, 64 usage, 65 bad data, 66 input missing, 69 ORT not installed.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { EX_DATA, EX_NOINPUT, EX_USAGE, fail, loadOrt, onnxMetadata, sessionOptions } from "./lib/ort_load.mjs";

const TOOL = "ort_bench";
let a;
try {
  a = parseArgs({
    options: {
      model: { type: "string", short: "m", multiple: true, default: [] }, label: { type: "string" },
      tests: { type: "string", default: "forward" }, batch: { type: "string", short: "b", default: "1" },
      seq: { type: "string", short: "s", default: "10" }, repetitions: { type: "string", short: "r", default: "5" },
      "no-warmup": { type: "boolean", default: false }, "decode-tokens": { type: "string", default: "32" },
      data: { type: "string" }, split: { type: "string", default: "test" }, "eval-batch": { type: "string", default: "10" },
      bptt: { type: "string", default: "35" }, "eval-tokens": { type: "string", default: "0" },
      threads: { type: "string", short: "t", default: "1" }, output: { type: "string", short: "o", default: "json" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (e) {
  fail(TOOL, EX_USAGE, `${e.message} (--help)`);
}
if (a.help) {
  const lines = fs.readFileSync(new URL(import.meta.url), "utf8").split("\n");
  process.stdout.write(lines.slice(1, lines.findIndex((l) => l.startsWith("import"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
  process.exit(0);
}

function ints(s, what) {  // "1,2,4" and ranges "1-4", as pytorch_bench.py
  const out = [];
  for (const part of s.split(",")) {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (m) for (let v = Number(m[1]); v <= Number(m[2]); ++v) out.push(v);
    else if (/^\d+$/.test(part)) out.push(Number(part));
    else fail(TOOL, EX_USAGE, `${what}: bad list "${s}"`);
  }
  if (!out.length || out.some((v) => v < 1)) fail(TOOL, EX_USAGE, `${what}: values must be >= 1`);
  return out;
}
const positive = (s, what, min = 1) => {
  const v = Number(s);
  if (!Number.isInteger(v) || v < min) fail(TOOL, EX_USAGE, `${what} must be an integer >= ${min}`);
  return v;
};
if (!a.model.length) fail(TOOL, EX_USAGE, "give at least one -m GRAPH.onnx (--help)");
const reps = positive(a.repetitions, "-r"), threads = positive(a.threads, "--threads");
const decodeTokens = positive(a["decode-tokens"], "--decode-tokens"), evalBatch = positive(a["eval-batch"], "--eval-batch");
const bptt = positive(a.bptt, "--bptt"), evalTokens = positive(a["eval-tokens"], "--eval-tokens", 0);
if (!["json", "md"].includes(a.output)) fail(TOOL, EX_USAGE, "-o must be json or md");
const tests = [];
for (const t of a.tests.split(",")) {
  if (t === "forward") for (const b of ints(a.batch, "-b")) for (const s of ints(a.seq, "-s")) tests.push({ kind: "forward", b, s });
  else if (t === "decode") tests.push({ kind: "decode", b: 1, s: decodeTokens });
  else if (t === "eval") tests.push({ kind: "eval", b: evalBatch, s: bptt });
  else if (t === "load") tests.push({ kind: "load", b: 0, s: 0 });
  else fail(TOOL, EX_USAGE, `unknown test "${t}" (forward, decode, eval, load)`);
}
if (tests.some((t) => t.kind === "eval") && !a.data) fail(TOOL, EX_USAGE, "the eval test needs --data DIR");

const ort = loadOrt(TOOL);
const opts = sessionOptions(threads);

function stats(v) {  // the same summary as pytorch_bench.py
  const s = [...v].sort((x, y) => x - y), n = s.length;
  const pct = (q) => {
    const pos = (q / 100) * (n - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, n - 1);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  };
  const mean = v.reduce((x, y) => x + y, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((x, y) => x + (y - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, sd, median: pct(50), p90: pct(90), p99: pct(99), min: s[0], max: s[n - 1] };
}

let seed = 1;
const rand = (n) => {  // a small LCG: the same token ids in every run
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms

function evalIds(vocab) {
  const file = path.join(a.data, `${a.split}.txt`);
  if (!fs.existsSync(file)) fail(TOOL, EX_NOINPUT, `${file}: no such file`);
  const index = new Map(vocab.map((w, i) => [w, i]));
  const unk = index.get("<unk>");
  const ids = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n").slice(0, -1)) {
    for (const w of [...line.split(/\s+/).filter(Boolean), "<eos>"]) {
      const i = index.has(w) ? index.get(w) : unk;
      if (i === undefined) fail(TOOL, EX_DATA, `${file}: word "${w}" is not in the vocabulary and there is no <unk>`);
      ids.push(i);
    }
  }
  return evalTokens ? ids.slice(0, evalTokens) : ids;
}

const results = [];
for (const file of a.model) {
  if (!fs.existsSync(file)) fail(TOOL, EX_NOINPUT, `${file}: no such file`);
  const meta = onnxMetadata(file);
  if (!meta["wordlm.config"]) fail(TOOL, EX_DATA, `${file}: no wordlm metadata (not written by scripts/export_onnx.py)`);
  const cfg = JSON.parse(meta["wordlm.config"]);
  const { vocab_size: V, emsize: E, nhid: H, nlayers: L } = cfg;
  const enc = ["u8", "s7", "s8"].includes(meta["wordlm.int8_weights"]) ? meta["wordlm.int8_weights"] : "";
  const embInt8 = (meta["wordlm.precision"] || "").includes('"embedding": "int8');
  const dtype = enc ? `int8${embInt8 ? "+emb" : ""} ${enc}` : "fp32";
  const label = a.label || meta["wordlm.source"];
  if (meta["wordlm.output"] !== "log_probs")
    process.stderr.write(`${TOOL}: warning: ${file} ends without LogSoftmax (export with --log-softmax to match lm-bench)\n`);
  let params = V * E + V + (cfg.tied ? 0 : V * H);
  for (let l = 0; l < L; ++l) params += 4 * H * ((l ? H : E) + H) + 8 * H;
  const size = fs.statSync(file).size;
  const session = await ort.InferenceSession.create(file, opts);
  const decFile = file.replace(/\.onnx$/, ".decode.onnx");
  const dec = fs.existsSync(decFile) && decFile !== file ? await ort.InferenceSession.create(decFile, opts) : session;
  const out = session.outputNames[0];
  const zeros = (B) => new ort.Tensor("float32", new Float32Array(L * B * H), [L, B, H]);
  const idTensor = (arr, T, B) => new ort.Tensor("int64", BigInt64Array.from(arr, (v) => BigInt(v)), [T, B]);
  for (const t of tests) {
    let tokens = 0, once, ppl;
    if (t.kind === "forward") {
      tokens = t.b * t.s;
      const x = idTensor(Array.from({ length: tokens }, () => rand(V)), t.s, t.b);
      once = async () => {
        const h = zeros(t.b), c = zeros(t.b);
        const t0 = now();
        await session.run({ ids: x, h0: h, c0: c });
        return now() - t0;
      };
    } else if (t.kind === "decode") {
      tokens = 1;
      const xs = Array.from({ length: t.s }, () => idTensor([rand(V)], 1, 1));
      once = async () => {
        let h = zeros(1), c = zeros(1);
        const t0 = now();
        for (const x of xs) {
          const r = await dec.run({ ids: x, h0: h, c0: c });
          h = r.hn;
          c = r.cn;
        }
        return (now() - t0) / t.s;
      };
    } else if (t.kind === "eval") {
      const ids = evalIds(JSON.parse(meta["wordlm.vocab"]));
      const nb = Math.floor(ids.length / t.b);
      const col = (b, i) => ids[b * nb + i];  // batchify: column b is the b-th slice of the text
      tokens = t.b * (nb - 1);
      const windows = [];
      for (let i = 0; i < nb - 1; i += t.s) {
        const n = Math.min(t.s, nb - 1 - i), x = [], y = new Int32Array(n * t.b);
        for (let k = 0; k < n; ++k) for (let b = 0; b < t.b; ++b) {
          x.push(col(b, i + k));
          y[k * t.b + b] = col(b, i + k + 1);
        }
        windows.push({ x: idTensor(x, n, t.b), y });
      }
      once = async () => {
        let h = zeros(t.b), c = zeros(t.b), nll = 0;
        const t0 = now();
        for (const w of windows) {
          const r = await session.run({ ids: w.x, h0: h, c0: c });
          const lp = r[out].data;
          for (let m = 0; m < w.y.length; ++m) nll -= lp[m * V + w.y[m]];
          h = r.hn;
          c = r.cn;
        }
        const ms = now() - t0;
        if (!Number.isFinite(nll)) fail(TOOL, EX_DATA, `${file}: non-finite NLL in the eval test`);
        ppl = Math.exp(nll / tokens);
        return ms;
      };
    } else {
      once = async () => {
        const t0 = now();
        await ort.InferenceSession.create(file, opts);
        return now() - t0;
      };
    }
    if (!a["no-warmup"]) await once();
    const ms = [];
    for (let r = 0; r < reps; ++r) {
      ms.push(await once());
      process.stderr.write(`${label} ${dtype} t=${threads} ${t.kind} b${t.b} s${t.s}: run ${r + 1}\n`);
    }
    const name = { forward: `b${t.b} s${t.s}`, decode: `decode b${t.b}`, eval: `eval b${t.b} bptt${t.s}`, load: "load" }[t.kind];
    const tps = tokens ? ms.map((v) => tokens / (v / 1e3)) : [];
    results.push({
      impl: "ort", model: label, dtype, engine: enc, size_bytes: size, params, threads,
      blas_threads: threads, test: name, kind: t.kind, batch: t.b, seq: t.s, tokens, reps: ms.length,
      ms: stats(ms), tokens_per_sec: tps.length ? stats(tps) : {}, samples_ms: ms, graph: path.basename(file),
      decode_graph: t.kind === "decode" ? path.basename(dec === session ? file : decFile) : undefined,
      ppl: t.kind === "eval" ? ppl : undefined,
    });
  }
}
const doc = {
  tool: "ort_bench", impl: "ort",
  run: {
    ort: ort.env.versions.node, threads, intra_op_threads: threads, inter_op_threads: 1, node: process.version,
    cpu: os.cpus()[0]?.model || "", date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  },
  results,
};
if (a.output === "json") {
  process.stdout.write(JSON.stringify(doc, null, 2) + "\n");
} else {
  process.stdout.write("| model | size | dtype | threads | test | ms | t/s |\n| --- | ---: | --- | --- | --- | ---: | ---: |\n");
  for (const r of results) {
    const tps = r.tokens ? Math.round(r.tokens_per_sec.mean).toLocaleString("en-US") : "-";
    process.stdout.write(`| ${r.model} | ${(r.size_bytes / 1e6).toFixed(2)} MB | ${r.dtype} | ${r.threads} | ${r.test} | ` +
      `${r.ms.mean.toFixed(3)} ± ${r.ms.sd.toFixed(3)} | ${tps} |\n`);
  }
}

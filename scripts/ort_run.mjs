#!/usr/bin/env node
// ONNX Runtime's side of the ONNX export check (scripts/ort_verify.py runs it): runs a graph
// written by scripts/export_onnx.py over token windows, the h/c state carried from window to
// window, and writes the same files as wordlm's tests/tools/wordlm_logits, so the two compare
// token for token. A decode graph runs each window one step at a time.
//
//   node scripts/ort_run.mjs --model G.onnx --ids IDS --targets TGT --steps T --batch B --out PREFIX [--full K] [--threads N]
//     IDS, TGT  raw little-endian int32 [W, T, B]
//     PREFIX.lp.f64 [W*T*B] log p(target) (log-sum-exp in double over the graph's float output:
//                   logits, or log_probs for a --log-softmax graph, where it is a no-op up to rounding)
//     PREFIX.top1.i32 [W*T*B] argmax (lowest id among equal maxima); PREFIX.logits.f32 the
//                   output of the first K windows (default 2)
// stdout: one JSON line (windows, tokens, seconds); errors on stderr with exit 64/65/66/69.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { EX_DATA, EX_USAGE, fail, loadOrt, onnxMetadata, readTyped, sessionOptions } from "./lib/ort_load.mjs";

const TOOL = "ort_run";
let args;
try {
  args = parseArgs({
    options: {
      model: { type: "string" }, ids: { type: "string" }, targets: { type: "string" },
      steps: { type: "string" }, batch: { type: "string" }, out: { type: "string" },
      full: { type: "string", default: "2" }, threads: { type: "string", default: "1" }, help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (e) {
  fail(TOOL, EX_USAGE, e.message);
}
if (args.help) {
  const lines = fs.readFileSync(new URL(import.meta.url), "utf8").split("\n");
  process.stdout.write(lines.slice(1, lines.findIndex((l) => l.startsWith("import"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
  process.exit(0);
}
for (const k of ["model", "ids", "targets", "steps", "batch", "out"]) if (!args[k]) fail(TOOL, EX_USAGE, `--${k} is required (--help)`);
const T = Number(args.steps), B = Number(args.batch), K = Number(args.full), threads = Number(args.threads);
if (!(T >= 1 && B >= 1 && K >= 0 && threads >= 1)) fail(TOOL, EX_USAGE, "--steps, --batch, --threads must be >= 1 and --full >= 0");
if (!fs.existsSync(args.model)) fail(TOOL, 66, `${args.model}: no such file`);

const ort = loadOrt(TOOL);
const meta = onnxMetadata(args.model);
const cfg = JSON.parse(meta["wordlm.config"] || "null");
if (!cfg) fail(TOOL, EX_DATA, `${args.model}: no wordlm.config metadata (not written by scripts/export_onnx.py?)`);
const decode = meta["wordlm.graph"] === "decode";
const { vocab_size: V, nlayers: L, nhid: H } = cfg;
const ids = readTyped(args.ids, Int32Array, TOOL), tgt = readTyped(args.targets, Int32Array, TOOL);
const per = T * B, W = Math.floor(ids.length / per);
if (W < 1 || ids.length !== W * per || tgt.length !== ids.length) fail(TOOL, EX_DATA, `${args.ids}/${args.targets}: not [W, ${T}, ${B}] int32`);

const session = await ort.InferenceSession.create(args.model, sessionOptions(threads));
const outName = session.outputNames[0];
const lp = new Float64Array(W * per), top1 = new Int32Array(W * per);
const full = new Float32Array(Math.min(K, W) * per * V);
let h = new ort.Tensor("float32", new Float32Array(L * B * H), [L, B, H]);
let c = new ort.Tensor("float32", new Float32Array(L * B * H), [L, B, H]);
const t0 = process.hrtime.bigint();
for (let w = 0; w < W; ++w) {
  const win = new Float32Array(per * V);
  const chunk = decode ? 1 : T;
  for (let t = 0; t < T; t += chunk) {
    const x = new BigInt64Array(chunk * B);
    for (let i = 0; i < chunk * B; ++i) x[i] = BigInt(ids[w * per + t * B + i]);
    const r = await session.run({ ids: new ort.Tensor("int64", x, [chunk, B]), h0: h, c0: c });
    win.set(r[outName].data, t * B * V);
    h = r.hn;
    c = r.cn;
  }
  for (let r = 0; r < per; ++r) {
    const o = r * V;
    let best = 0;
    for (let v = 1; v < V; ++v) if (win[o + v] > win[o + best]) best = v;
    let sum = 0;
    const m = win[o + best];
    for (let v = 0; v < V; ++v) sum += Math.exp(win[o + v] - m);
    const i = w * per + r;
    lp[i] = win[o + tgt[i]] - m - Math.log(sum);
    top1[i] = best;
  }
  if (w < K) full.set(win, w * per * V);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
for (const [suffix, arr] of [[".lp.f64", lp], [".top1.i32", top1], [".logits.f32", full]])
  fs.writeFileSync(args.out + suffix, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
process.stdout.write(JSON.stringify({ model: args.model, graph: decode ? "decode" : "sequence", windows: W, tokens: W * per, seconds }) + "\n");

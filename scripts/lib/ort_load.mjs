// Loads ONNX Runtime (the npm package onnxruntime-node) from the git-ignored folder that
// scripts/setup_ort.sh installs it into (tools/ort/, or $WORDLM_ORT_DIR), and reads the small
// binary files the ONNX scripts exchange. Shared by scripts/ort_run.mjs and scripts/ort_bench.mjs.
// A missing package is exit 69 with the command that installs it.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..", "..");
export const ortDir = process.env.WORDLM_ORT_DIR || path.join(root, "tools", "ort");
export const EX_USAGE = 64, EX_DATA = 65, EX_NOINPUT = 66, EX_UNAVAILABLE = 69;

export function fail(tool, code, msg) {
  process.stderr.write(`${tool}: ${msg}\n`);
  process.exit(code);
}

export function loadOrt(tool) {
  const req = createRequire(path.join(ortDir, "package.json"));
  try {
    return req("onnxruntime-node");
  } catch (e) {
    fail(tool, EX_UNAVAILABLE, `ONNX Runtime (npm onnxruntime-node) is not installed in ${ortDir}: run scripts/setup_ort.sh (${e.code || e.message})`);
  }
}

// Session options with explicit threads: intra-op = threads, inter-op 1, sequential, all graph
// optimizations, no spinning between calls when threads > 1 is left at ORT's default.
export function sessionOptions(threads) {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
}

export function readTyped(file, Type, tool) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(tool, EX_NOINPUT, `${file}: ${e.code === "ENOENT" ? "no such file" : e.message}`);
  }
  if (buf.byteLength % Type.BYTES_PER_ELEMENT) fail(tool, EX_DATA, `${file}: ${buf.byteLength} bytes is not a whole number of elements`);
  const out = new Type(buf.byteLength / Type.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

// The wordlm.* metadata the exporter stores (config, vocab, ...), read from the ONNX file itself:
// onnxruntime-node does not expose custom metadata, so this scans the protobuf for
// metadata_props (field 14 of ModelProto: StringStringEntryProto key = 1, value = 2).
export function onnxMetadata(file) {
  const b = fs.readFileSync(file);
  let p = 0;
  const varint = () => {
    let v = 0, s = 1;
    for (;;) {
      const x = b[p++];
      v += (x & 0x7f) * s;
      if (x < 0x80) return v;
      s *= 128;
    }
  };
  const out = {};
  while (p < b.length) {
    const key = varint(), field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) { varint(); continue; }
    if (wire === 1) { p += 8; continue; }
    if (wire === 5) { p += 4; continue; }
    if (wire !== 2) throw new Error(`${file}: unexpected protobuf wire type ${wire}`);
    const len = varint(), end = p + len;
    if (field === 14) {
      let k = "", v = "";
      while (p < end) {
        const kk = varint(), l = varint(), s = b.toString("utf8", p, p + l);
        p += l;
        if (kk >> 3 === 1) k = s; else if (kk >> 3 === 2) v = s;
      }
      out[k] = v;
    }
    p = end;
  }
  return out;
}

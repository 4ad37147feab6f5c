// Gates and decisions of docs/PROOF_FORMAT.md §9, with the exact-rational score.
import crypto from 'node:crypto';
import { Num } from './json.mjs';
import { jcs } from './jcs.mjs';

export const OPS = ['<', '<=', '==', '>', '>='];
const SPECIAL = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

// Compare strings by Unicode code point (not UTF-16 unit).
export function cmpCodePoint(a, b) {
  const A = [...a].map((c) => c.codePointAt(0));
  const B = [...b].map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(A.length, B.length); i++) if (A[i] !== B[i]) return A[i] - B[i];
  return A.length - B.length;
}

// A metric value (Num, JS number or one of the three strings) read as a double.
export function asDouble(v) {
  if (v instanceof Num) return v.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v in SPECIAL) return SPECIAL[v];
  throw new Error(`not a metric value: ${JSON.stringify(v)}`);
}

// A finite double as an exact dyadic rational m * 2^e (BigInt m, integer e).
export function dyadic(x) {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const expBits = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  if (expBits === 0) return { m: sign * frac, e: -1074 };
  return { m: sign * (frac | (1n << 52n)), e: expBits - 1075 };
}

const bitlen = (x) => (x === 0n ? 0 : x.toString(2).length);

// p / q (BigInt, q > 0) rounded once to the nearest double, ties to even.
export function ratioToDouble(p, q) {
  if (q <= 0n) throw new Error('ratioToDouble: q must be positive');
  if (p === 0n) return 0;
  const neg = p < 0n;
  if (neg) p = -p;
  // e with 2^e <= p/q < 2^(e+1)
  let e = bitlen(p) - bitlen(q);
  const ge = (ee) => (ee >= 0 ? p >= q << BigInt(ee) : p << BigInt(-ee) >= q);
  if (!ge(e)) e -= 1;
  const shift = Math.max(e - 52, -1074);
  let num = p;
  let den = q;
  if (shift >= 0) den <<= BigInt(shift);
  else num <<= BigInt(-shift);
  let m = num / den;
  const r = num - m * den;
  if (2n * r > den || (2n * r === den && (m & 1n) === 1n)) m += 1n;
  if (shift + bitlen(m) > 1024) return neg ? -Infinity : Infinity;
  const v = Number(m) * 2 ** shift;
  return neg ? -v : v;
}

// Σ(w_i v_i) / Σ(w_i) on the rationals the doubles stand for, rounded once.
export function exactWeightedMean(pairs) {
  let emin = 0;
  const terms = pairs.map(([w, v]) => {
    const a = dyadic(w);
    const b = dyadic(v);
    return { wm: a.m, we: a.e, pm: a.m * b.m, pe: a.e + b.e };
  });
  for (const t of terms) emin = Math.min(emin, t.we, t.pe);
  let num = 0n;
  let den = 0n;
  for (const t of terms) {
    num += t.pm << BigInt(t.pe - emin);
    den += t.wm << BigInt(t.we - emin);
  }
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  return ratioToDouble(num, den);
}

export function gateDigest(gate) {
  return crypto.createHash('sha256').update(Buffer.from(jcs(gate), 'utf8')).digest('hex');
}

// Combined metrics: inputs' metrics merged in order, later values replacing earlier ones.
export function combine(inputs) {
  const out = new Map();
  for (const inp of inputs) for (const k of Object.keys(inp.metrics)) out.set(k, inp.metrics[k]);
  return out;
}

function holds(v, op, t) {
  switch (op) {
    case '>=': return v >= t;
    case '>': return v > t;
    case '<=': return v <= t;
    case '<': return v < t;
    case '==': return v === t;
    default: throw new Error(`unknown operator ${op}`);
  }
}

// The decision a gate gives on combined metrics (a Map name -> recorded value).
export function decide(gate, metrics) {
  const checks = [];
  const thresholds = gate.thresholds || null;
  const weights = gate.weights || null;
  if (thresholds) {
    for (const name of Object.keys(thresholds).sort(cmpCodePoint)) {
      for (const op of Object.keys(thresholds[name]).sort(cmpCodePoint)) {
        const threshold = thresholds[name][op];
        const has = metrics.has(name);
        const value = has ? metrics.get(name) : null;
        let passed = false;
        if (has) {
          const v = asDouble(value);
          passed = Number.isFinite(v) && holds(v, op, asDouble(threshold));
        }
        checks.push({ metric: name, op, threshold, value, passed });
      }
    }
  }
  const read = new Set([...(thresholds ? Object.keys(thresholds) : []), ...(weights ? Object.keys(weights) : [])]);
  const missing = [...read].filter((n) => !metrics.has(n)).sort(cmpCodePoint);
  let score = null;
  if (weights) {
    const pairs = [];
    let ok = true;
    for (const name of Object.keys(weights)) {
      if (!metrics.has(name)) { ok = false; break; }
      const v = asDouble(metrics.get(name));
      if (!Number.isFinite(v)) { ok = false; break; }
      pairs.push([asDouble(weights[name]), v]);
    }
    if (ok) score = exactWeightedMean(pairs);
  }
  const passed =
    checks.every((c) => c.passed) &&
    missing.length === 0 &&
    (!weights || (score !== null && score >= asDouble(gate.min_score)));
  return { format: 'pot.gate-decision.v1', gate: gateDigest(gate), checks, missing, score, passed };
}

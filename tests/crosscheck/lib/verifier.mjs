// An independent verifier of pot proofs, written from docs/PROOF_FORMAT.md alone.
// verifyProof(bytes, {trustedKey, now}) runs the checks of §8 (1-11) in order and
// returns {ok, failed_check, reason, heads}.
import { JsonError, Num, isObject, parseBytes } from './json.mjs';
import { jcs, jcsBytes } from './jcs.mjs';
import { parseTrustedKey, publicKeyProblem, publicKeyProblemHex, verifySignature } from './ed25519.mjs';
import { isEip55 } from './keccak.mjs';
import { mth, sha256, verifyConsistency, verifyInclusion } from './merkle.mjs';
import { OPS, asDouble, combine, decide } from './gate.mjs';
import { checkLocalChain } from './localchain.mjs';

export const MEDIA_TYPE = 'application/vnd.pot.proof.v1+json';
export const CHECKS = {
  1: 'envelope',
  2: 'signer',
  3: 'records',
  4: 'tree heads',
  5: 'consistency',
  6: 'inclusion',
  7: 'timestamps',
  8: 'lineage',
  9: 'anchors',
  10: 'summary',
  11: 'proof signature',
  12: 'local chain', // §8's optional further check, run when the file is given
};
export const DOMAIN = {
  head: 'pot.v1.tree-head',
  receipt: 'pot.v1.anchor-receipt',
  entry: 'pot.v1.local-chain-entry',
  proof: 'pot.v1.proof',
  aggregateAnchor: 'pot.v1.aggregate-anchor',
};
const STRENGTH = { localchain: 'local', ethereum: 'chain', tsa: 'tsa', 'ethereum-aggregate': 'chain' };
const ETH_DETAILS = ['chain_id', 'contract', 'tx_hash', 'block_number', 'block_hash', 'block_time', 'log_index', 'submitter', 'meta_hash'];
// §6.5: H(0x00 || "pot.v1.aggregate-leaf" || 0x00 || the 32 bytes of the head hash).
export const aggregateLeaf = (headHashHex) =>
  sha256(Buffer.from([0]), Buffer.from('pot.v1.aggregate-leaf', 'ascii'), Buffer.from([0]), Buffer.from(headHashHex, 'hex'));
const MAX_SAFE = 2n ** 53n - 1n;
const DAY = 86400;
const ALLOWANCE = 15;

export class Fail extends Error {
  constructor(check, message) {
    super(message);
    this.check = check;
  }
}

// ---------------------------------------------------------------- primitives

export function signingInput(domain, body) {
  return Buffer.concat([Buffer.from(domain, 'ascii'), Buffer.from([0]), jcsBytes(body)]);
}
export const objectHash = (domain, body) => sha256(signingInput(domain, body)).toString('hex');
export const leafHash = (body) => sha256(Buffer.from([0]), jcsBytes(body));

// §1: refused code points of names and text.
export function refusedCodePoint(cp) {
  return (
    cp <= 0x1f ||
    (cp >= 0x7f && cp <= 0x9f) ||
    cp === 0xad ||
    cp === 0x61c ||
    cp === 0x180e ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x206f) ||
    cp === 0xfeff ||
    (cp >= 0xfff9 && cp <= 0xfffb) ||
    (cp >= 0xd800 && cp <= 0xdfff) ||
    (cp >= 0xe0000 && cp <= 0xe007f)
  );
}

// null when s is text of min..max code points, else the reason.
export function textProblem(s, min, max) {
  if (typeof s !== 'string') return 'not a string';
  // Iterating a string yields code points; a lone surrogate comes out as itself.
  const cps = [...s].map((c) => c.codePointAt(0));
  if (cps.length < min) return min === 1 ? 'empty' : `shorter than ${min} code points`;
  if (cps.length > max) return `longer than ${max} code points`;
  for (const cp of cps)
    if (refusedCodePoint(cp)) return `holds refused code point U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return null;
}
export const nameProblem = (s) => textProblem(s, 1, 256);

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$/;

// Microseconds since 1970 of a §1 timestamp, as a BigInt (from about 2255 on they exceed
// 2^53, where a double can no longer tell one microsecond from the next), or null when it
// is not one.
export function timestampMicros(s) {
  if (typeof s !== 'string') return null;
  const m = TS_RE.exec(s);
  if (!m) return null;
  const [Y, Mo, Dd, h, mi, se] = m.slice(1, 7).map(Number);
  if (Y < 2000 || Mo < 1 || Mo > 12 || Dd < 1 || h > 23 || mi > 59 || se > 59) return null;
  const leap = (Y % 4 === 0 && Y % 100 !== 0) || Y % 400 === 0;
  const mdays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Mo - 1];
  if (Dd > mdays) return null;
  return BigInt(Date.UTC(Y, Mo - 1, Dd, h, mi, se)) * 1000n + BigInt(m[7]);
}
const MICROS = 1000000n;
const wholeSeconds = (s) => Number(timestampMicros(s) / MICROS); // the fraction dropped (from 2000 on: positive)

// ---------------------------------------------------------------- schema (check 1)

export class Shape {
  constructor() {
    this.check = 1;
  }
  fail(path, msg) {
    throw new Fail(1, `${path}: ${msg}`);
  }
  object(v, path) {
    if (!isObject(v)) this.fail(path, 'must be a JSON object');
    return v;
  }
  array(v, path) {
    if (!Array.isArray(v)) this.fail(path, 'must be a JSON array');
    return v;
  }
  keys(v, path, required, optional = []) {
    this.object(v, path);
    for (const k of required) if (!(k in v)) this.fail(path, `missing ${k}`);
    const allowed = new Set([...required, ...optional]);
    for (const k of Object.keys(v)) if (!allowed.has(k)) this.fail(path, `unknown field ${JSON.stringify(k)}`);
    return v;
  }
  name(v, path) {
    const p = nameProblem(v);
    if (p) this.fail(path, `not a name (${p})`);
    return v;
  }
  text(v, path, max) {
    const p = textProblem(v, 0, max);
    if (p) this.fail(path, `not text (${p})`);
    return v;
  }
  hex(v, path, digits) {
    if (typeof v !== 'string' || !new RegExp(`^[0-9a-f]{${digits}}$`).test(v))
      this.fail(path, `must be ${digits} lower-case hex`);
    return v;
  }
  hex0x(v, path, digits) {
    if (typeof v !== 'string' || !new RegExp(`^0x[0-9a-f]{${digits}}$`).test(v))
      this.fail(path, `must be 0x + ${digits} lower-case hex`);
    return v;
  }
  int(v, path, min = -MAX_SAFE, max = MAX_SAFE) {
    if (!(v instanceof Num)) this.fail(path, 'must be an integer');
    if (!v.isIntegerText) this.fail(path, `must be written as a JSON integer (got ${v.text})`);
    const b = v.bigint;
    if (b < -MAX_SAFE || b > MAX_SAFE) this.fail(path, 'outside ±(2^53−1)');
    if (b < BigInt(min) || b > BigInt(max)) this.fail(path, `must be in [${min}, ${max}]`);
    return Number(b);
  }
  number(v, path) {
    if (!(v instanceof Num)) this.fail(path, 'must be a number');
    return v.value;
  }
  metricValue(v, path) {
    if (v instanceof Num) return;
    if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return;
    this.fail(path, 'must be a number or "NaN"/"Infinity"/"-Infinity"');
  }
  bool(v, path) {
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
  }
  timestamp(v, path) {
    if (timestampMicros(v) === null) this.fail(path, 'not a timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ from 2000 on');
    return v;
  }
  signature(v, path) {
    return this.hex(v, path, 128);
  }
  nullable(v, path, f) {
    if (v === null) return null;
    return f.call(this, v, path);
  }
  oneOf(v, path, options) {
    if (!options.includes(v)) this.fail(path, `must be one of ${options.join(', ')}`);
    return v;
  }
  // object: name -> f(value)
  nameMap(v, path, f) {
    this.object(v, path);
    for (const k of Object.keys(v)) {
      this.name(k, `${path} key ${JSON.stringify(k)}`);
      f.call(this, v[k], `${path}.${k}`);
    }
    return v;
  }
}

const RUN_EVENTS = ['RunStarted', 'MetricLogged', 'ArtifactSaved', 'RunCompleted'];
const MODEL_EVENTS = ['ModelPromoted', 'PromotionRefused', 'ModelRolledBack'];
const COMMON_REQUIRED = ['type', 'model_id', 'seq', 'timestamp'];
const COMMON_OPTIONAL = ['salt', 'rank', 'run_id', 'node_id', 'lamport'];

export function checkGateShape(s, g, path) {
  s.object(g, path);
  const hasT = 'thresholds' in g;
  const hasW = 'weights' in g;
  if (!hasT && !hasW) s.fail(path, 'a gate needs thresholds or weights');
  s.keys(g, path, [], ['thresholds', 'weights', 'min_score']);
  if (hasW !== 'min_score' in g) s.fail(path, 'min_score must be present exactly when weights is');
  if (hasT) {
    s.object(g.thresholds, `${path}.thresholds`);
    if (Object.keys(g.thresholds).length === 0) s.fail(`${path}.thresholds`, 'must not be empty');
    s.nameMap(g.thresholds, `${path}.thresholds`, function (ops, p) {
      this.object(ops, p);
      if (Object.keys(ops).length === 0) this.fail(p, 'must not be empty');
      for (const op of Object.keys(ops)) {
        if (!OPS.includes(op)) this.fail(p, `unknown operator ${JSON.stringify(op)}`);
        this.number(ops[op], `${p}.${op}`);
      }
    });
  }
  if (hasW) {
    s.object(g.weights, `${path}.weights`);
    if (Object.keys(g.weights).length === 0) s.fail(`${path}.weights`, 'must not be empty');
    let anyNonZero = false;
    s.nameMap(g.weights, `${path}.weights`, function (w, p) {
      const x = this.number(w, p);
      if (!(x >= 0)) this.fail(p, 'a weight must be >= 0');
      if (x !== 0) anyNonZero = true;
    });
    if (!anyNonZero) s.fail(`${path}.weights`, 'weights must not all be zero');
    s.number(g.min_score, `${path}.min_score`);
  }
}

export function checkDecisionShape(s, d, path) {
  s.keys(d, path, ['format', 'gate', 'checks', 'missing', 'score', 'passed']);
  s.oneOf(d.format, `${path}.format`, ['pot.gate-decision.v1']);
  s.hex(d.gate, `${path}.gate`, 64);
  s.array(d.checks, `${path}.checks`).forEach((c, i) => {
    const p = `${path}.checks[${i}]`;
    s.keys(c, p, ['metric', 'op', 'threshold', 'value', 'passed']);
    s.name(c.metric, `${p}.metric`);
    s.oneOf(c.op, `${p}.op`, OPS);
    s.number(c.threshold, `${p}.threshold`);
    if (c.value !== null) s.metricValue(c.value, `${p}.value`);
    s.bool(c.passed, `${p}.passed`);
  });
  s.array(d.missing, `${path}.missing`).forEach((m, i) => s.name(m, `${path}.missing[${i}]`));
  s.nullable(d.score, `${path}.score`, s.number);
  s.bool(d.passed, `${path}.passed`);
}

function checkParent(s, p, path) {
  s.keys(p, path, ['kind', 'id', 'relation', 'digest', 'proof'], ['path']);
  s.oneOf(p.kind, `${path}.kind`, ['run', 'model', 'dataset', 'artifact']);
  s.name(p.id, `${path}.id`);
  s.name(p.relation, `${path}.relation`);
  s.nullable(p.digest, `${path}.digest`, s.name);
  if ('path' in p) s.name(p.path, `${path}.path`);
  if (p.proof !== null) {
    const r = p.proof;
    const rp = `${path}.proof`;
    s.keys(r, rp, ['model_id', 'tree_size', 'root_hash', 'head_hash', 'key_id']);
    s.name(r.model_id, `${rp}.model_id`);
    s.int(r.tree_size, `${rp}.tree_size`, 1);
    s.hex(r.root_hash, `${rp}.root_hash`, 64);
    s.hex(r.head_hash, `${rp}.head_hash`, 64);
    s.hex(r.key_id, `${rp}.key_id`, 64);
  }
}

function checkEventData(s, rec, path) {
  const ev = rec.event;
  const d = rec.data;
  const stamped = 'node_id' in rec;
  const opt = stamped ? ['merged_from'] : [];
  const dp = `${path}.data`;
  switch (ev) {
    case 'RunStarted':
      s.keys(d, dp, ['kind', 'config', 'config_hash', 'environment', 'environment_hash', 'git', 'user', 'rerun_of', 'parents'], opt);
      s.name(d.kind, `${dp}.kind`);
      s.object(d.config, `${dp}.config`);
      s.hex(d.config_hash, `${dp}.config_hash`, 64);
      s.object(d.environment, `${dp}.environment`);
      s.hex(d.environment_hash, `${dp}.environment_hash`, 64);
      s.keys(d.git, `${dp}.git`, ['commit', 'dirty', 'branch']);
      if (d.git.commit !== null && !(typeof d.git.commit === 'string' && /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(d.git.commit)))
        s.fail(`${dp}.git.commit`, 'must be 40 or 64 lower-case hex, or null');
      if (d.git.dirty !== null) s.bool(d.git.dirty, `${dp}.git.dirty`);
      s.nullable(d.git.branch, `${dp}.git.branch`, s.name);
      s.text(d.user, `${dp}.user`, 256);
      s.nullable(d.rerun_of, `${dp}.rerun_of`, s.name);
      s.array(d.parents, `${dp}.parents`).forEach((p, i) => checkParent(s, p, `${dp}.parents[${i}]`));
      break;
    case 'RunCompleted':
      s.keys(d, dp, ['status', 'error'], opt);
      s.oneOf(d.status, `${dp}.status`, ['completed', 'failed']);
      if (d.error !== null) s.text(d.error, `${dp}.error`, 2000);
      break;
    case 'MetricLogged':
      s.keys(d, dp, ['name', 'value', 'step'], opt);
      s.name(d.name, `${dp}.name`);
      s.metricValue(d.value, `${dp}.value`);
      if (d.step !== null) s.int(d.step, `${dp}.step`, 0);
      break;
    case 'ArtifactSaved':
      s.keys(d, dp, ['name', 'sha256', 'size'], opt);
      s.name(d.name, `${dp}.name`);
      s.hex(d.sha256, `${dp}.sha256`, 64);
      s.int(d.size, `${dp}.size`, 0);
      break;
    case 'ModelPromoted':
    case 'PromotionRefused': {
      s.keys(d, dp, ['stage', 'model_hash', 'gate', 'inputs', 'decision'], opt);
      s.name(d.stage, `${dp}.stage`);
      s.name(d.model_hash, `${dp}.model_hash`);
      checkGateShape(s, d.gate, `${dp}.gate`);
      s.array(d.inputs, `${dp}.inputs`);
      if (d.inputs.length === 0) s.fail(`${dp}.inputs`, 'must not be empty');
      // §3: no two inputs name the same validation_id.
      const seen = new Set();
      d.inputs.forEach((inp, i) => {
        const ip = `${dp}.inputs[${i}]`;
        s.keys(inp, ip, ['validation_id', 'metrics']);
        s.hex(inp.validation_id, `${ip}.validation_id`, 64);
        s.nameMap(inp.metrics, `${ip}.metrics`, s.metricValue);
        if (seen.has(inp.validation_id)) s.fail(`${ip}.validation_id`, 'two inputs name the same validation_id');
        seen.add(inp.validation_id);
      });
      checkDecisionShape(s, d.decision, `${dp}.decision`);
      break;
    }
    case 'ModelRolledBack':
      s.keys(d, dp, ['stage', 'to_model_hash', 'from_model_hash', 'reason'], opt);
      s.name(d.stage, `${dp}.stage`);
      s.name(d.to_model_hash, `${dp}.to_model_hash`);
      s.nullable(d.from_model_hash, `${dp}.from_model_hash`, s.name);
      s.name(d.reason, `${dp}.reason`);
      break;
    default:
      s.fail(`${path}.event`, `unknown event ${JSON.stringify(ev)}`);
  }
  if ('merged_from' in d) {
    const mp = `${dp}.merged_from`;
    s.keys(d.merged_from, mp, ['node_id', 'lamport']);
    s.name(d.merged_from.node_id, `${mp}.node_id`);
    s.int(d.merged_from.lamport, `${mp}.lamport`, 1);
  }
}

export function checkRecordShape(s, rec, path, partial) {
  s.object(rec, path);
  const type = rec.type;
  let specific;
  let specificOpt = [];
  switch (type) {
    case 'checkpoint':
      specific = ['model_hash', 'epoch', 'metrics', 'fingerprint_hash', 'validation_hash'];
      specificOpt = ['step', 'file_sha256', 'file_name', 'optimizer_hash', 'rng_hash'];
      break;
    case 'validation':
      specific = ['model_hash', 'validator_id', 'validation_result', 'confidence_score', 'challenge_hash'];
      break;
    case 'steps':
      specific = ['steps', 'metrics'];
      specificOpt = ['epochs', 'batches'];
      break;
    case 'event':
      specific = ['event', 'data'];
      break;
    default:
      s.fail(`${path}.type`, `unknown record type ${JSON.stringify(type)}`);
  }
  const envelope = partial ? ['id', 'inclusion'] : ['id'];
  s.keys(rec, path, [...envelope, ...COMMON_REQUIRED, ...specific], [...COMMON_OPTIONAL, ...specificOpt]);
  s.hex(rec.id, `${path}.id`, 64);
  if (partial) s.array(rec.inclusion, `${path}.inclusion`).forEach((h, i) => s.hex(h, `${path}.inclusion[${i}]`, 64));
  s.name(rec.model_id, `${path}.model_id`);
  s.int(rec.seq, `${path}.seq`, 0);
  s.timestamp(rec.timestamp, `${path}.timestamp`);
  if ('salt' in rec) s.hex(rec.salt, `${path}.salt`, 32);
  if ('rank' in rec) s.int(rec.rank, `${path}.rank`, 0);
  if ('run_id' in rec) s.name(rec.run_id, `${path}.run_id`);
  if ('node_id' in rec !== 'lamport' in rec) s.fail(path, 'node_id and lamport come together');
  if ('node_id' in rec) {
    s.name(rec.node_id, `${path}.node_id`);
    s.int(rec.lamport, `${path}.lamport`, 1);
  }
  switch (type) {
    case 'checkpoint':
      s.name(rec.model_hash, `${path}.model_hash`);
      s.int(rec.epoch, `${path}.epoch`, 0);
      s.nameMap(rec.metrics, `${path}.metrics`, s.metricValue);
      s.nullable(rec.fingerprint_hash, `${path}.fingerprint_hash`, s.name);
      s.nullable(rec.validation_hash, `${path}.validation_hash`, s.name);
      if ('step' in rec) s.int(rec.step, `${path}.step`, 0);
      // §3: file_name is present exactly when file_sha256 is.
      if ('file_sha256' in rec !== 'file_name' in rec) s.fail(path, 'file_name and file_sha256 come together');
      if ('file_sha256' in rec) s.hex(rec.file_sha256, `${path}.file_sha256`, 64);
      // §3, replay: pot.state-hash.v1 digests of the optimizer's and the RNGs' state
      if ('optimizer_hash' in rec) s.hex(rec.optimizer_hash, `${path}.optimizer_hash`, 64);
      if ('rng_hash' in rec) s.hex(rec.rng_hash, `${path}.rng_hash`, 64);
      if ('file_name' in rec) {
        s.name(rec.file_name, `${path}.file_name`);
        if (/[/\\]/.test(rec.file_name) || rec.file_name === '.' || rec.file_name === '..')
          s.fail(`${path}.file_name`, 'must be a bare file name');
      }
      break;
    case 'validation': {
      s.name(rec.model_hash, `${path}.model_hash`);
      s.name(rec.validator_id, `${path}.validator_id`);
      s.object(rec.validation_result, `${path}.validation_result`);
      if (rec.confidence_score !== null) {
        const c = s.number(rec.confidence_score, `${path}.confidence_score`);
        if (!(c >= 0 && c <= 1)) s.fail(`${path}.confidence_score`, 'must be in [0, 1]');
      }
      s.nullable(rec.challenge_hash, `${path}.challenge_hash`, s.name);
      break;
    }
    case 'steps': {
      const steps = s.array(rec.steps, `${path}.steps`);
      if (steps.length === 0) s.fail(`${path}.steps`, 'must not be empty');
      if (steps.length > 100000) s.fail(`${path}.steps`, 'more than 100,000 steps');
      let prev = -1;
      steps.forEach((st, i) => {
        const v = s.int(st, `${path}.steps[${i}]`, 0);
        if (v <= prev) s.fail(`${path}.steps`, 'must strictly increase');
        prev = v;
      });
      s.nameMap(rec.metrics, `${path}.metrics`, function (arr, p) {
        this.array(arr, p);
        if (arr.length !== steps.length) this.fail(p, 'needs one entry per step');
        arr.forEach((x, i) => {
          if (x !== null) this.metricValue(x, `${p}[${i}]`);
        });
      });
      if ('epochs' in rec) {
        s.array(rec.epochs, `${path}.epochs`);
        if (rec.epochs.length !== steps.length) s.fail(`${path}.epochs`, 'needs one entry per step');
        rec.epochs.forEach((e, i) => s.int(e, `${path}.epochs[${i}]`, 0));
      }
      if ('batches' in rec) {
        // §3, replay: one batch digest (64 hex) per step
        s.array(rec.batches, `${path}.batches`);
        if (rec.batches.length !== steps.length) s.fail(`${path}.batches`, 'needs one entry per step');
        rec.batches.forEach((b, i) => s.hex(b, `${path}.batches[${i}]`, 64));
      }
      break;
    }
    case 'event': {
      const ev = rec.event;
      if (RUN_EVENTS.includes(ev)) {
        if (!('run_id' in rec)) s.fail(path, `${ev} is a run event and needs a run_id`);
      } else if (MODEL_EVENTS.includes(ev)) {
        if ('run_id' in rec) s.fail(path, `${ev} is a model event and has no run_id`);
      } else {
        s.fail(`${path}.event`, `unknown event ${JSON.stringify(ev)}`);
      }
      s.object(rec.data, `${path}.data`);
      checkEventData(s, rec, path);
      break;
    }
  }
}

export function checkEntryShape(s, e, path) {
  s.keys(e, path, ['index', 'prev_entry', 'model_id', 'tree_size', 'root_hash', 'head_hash', 'timestamp', 'key_id']);
  const index = s.int(e.index, `${path}.index`, 0);
  // §6.1: an entry has a prev_entry exactly when its index is not 0.
  if (index === 0 && e.prev_entry !== null) s.fail(`${path}.prev_entry`, 'must be null at index 0');
  if (index !== 0) s.hex(e.prev_entry, `${path}.prev_entry`, 64);
  s.name(e.model_id, `${path}.model_id`);
  s.int(e.tree_size, `${path}.tree_size`, 1);
  s.hex(e.root_hash, `${path}.root_hash`, 64);
  s.hex(e.head_hash, `${path}.head_hash`, 64);
  s.timestamp(e.timestamp, `${path}.timestamp`);
  s.hex(e.key_id, `${path}.key_id`, 64);
}

export function checkReceiptShape(s, r, path) {
  s.keys(r, path, ['backend', 'head_hash', 'root_hash', 'timestamp', 'key_id', 'details', 'signature']);
  s.name(r.backend, `${path}.backend`);
  s.hex(r.head_hash, `${path}.head_hash`, 64);
  s.hex(r.root_hash, `${path}.root_hash`, 64);
  s.timestamp(r.timestamp, `${path}.timestamp`);
  s.hex(r.key_id, `${path}.key_id`, 64);
  s.signature(r.signature, `${path}.signature`);
  const d = s.object(r.details, `${path}.details`);
  const dp = `${path}.details`;
  if (r.backend === 'localchain') {
    s.keys(d, dp, ['entry', 'entry_signature']);
    checkEntryShape(s, d.entry, `${dp}.entry`);
    s.signature(d.entry_signature, `${dp}.entry_signature`);
  } else if (r.backend === 'ethereum' || r.backend === 'ethereum-aggregate') {
    const aggregated = r.backend === 'ethereum-aggregate';
    s.keys(d, dp, aggregated ? [...ETH_DETAILS, 'aggregate_root', 'aggregate_size', 'leaf_index', 'path'] : ETH_DETAILS);
    if (aggregated) {
      s.hex(d.aggregate_root, `${dp}.aggregate_root`, 64);
      const size = s.int(d.aggregate_size, `${dp}.aggregate_size`, 1);
      s.int(d.leaf_index, `${dp}.leaf_index`, 0, size - 1);
      const path = s.array(d.path, `${dp}.path`);
      if (path.length > 53) s.fail(`${dp}.path`, 'has more than 53 elements');
      path.forEach((n, i) => s.hex(n, `${dp}.path[${i}]`, 64));
    }
    s.int(d.chain_id, `${dp}.chain_id`, 1);
    if (!isEip55(d.contract)) s.fail(`${dp}.contract`, 'must be an EIP-55 checksummed address');
    s.hex0x(d.tx_hash, `${dp}.tx_hash`, 64);
    s.int(d.block_number, `${dp}.block_number`, 0);
    s.hex0x(d.block_hash, `${dp}.block_hash`, 64);
    s.int(d.block_time, `${dp}.block_time`, 946684800);
    s.int(d.log_index, `${dp}.log_index`, 0);
    if (!isEip55(d.submitter)) s.fail(`${dp}.submitter`, 'must be an EIP-55 checksummed address');
    s.hex0x(d.meta_hash, `${dp}.meta_hash`, 64);
  } else if (r.backend === 'tsa') {
    // §6.3: the token is not opened here (no pinned TSA certificate): only its spelling is checked.
    s.keys(d, dp, ['token', 'gen_time']);
    const t = d.token;
    if (typeof t !== 'string' || t.length === 0
        || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(t)
        || Buffer.from(t, 'base64').toString('base64') !== t)
      s.fail(`${dp}.token`, 'must be non-empty canonical standard base64 with padding');
    if (Buffer.from(t, 'base64').length > 65536) s.fail(`${dp}.token`, 'is larger than 65536 bytes');
    s.timestamp(d.gen_time, `${dp}.gen_time`);
  }
  // An unknown backend is refused by check 9.
}

const TOP_KEYS = [
  'media_type', 'model_id', 'disclosure', 'signer', 'records', 'tree_heads', 'anchors', 'final_model_hash',
  'merkle_root', 'blockchain_transactions', 'proof_timestamp', 'verification_metadata', 'signature_hash',
];

function checkEnvelope(doc) {
  const s = new Shape();
  if (!isObject(doc)) s.fail('document', 'must be a JSON object');
  if (!('media_type' in doc)) s.fail('document', 'not a pot proof (no media_type)');
  if (doc.media_type !== MEDIA_TYPE) {
    if (typeof doc.media_type === 'string' && doc.media_type.startsWith('application/vnd.pot.proof.'))
      s.fail('media_type', `unsupported proof version ${JSON.stringify(doc.media_type)}`);
    s.fail('media_type', 'not a pot proof');
  }
  s.keys(doc, 'document', TOP_KEYS);
  s.name(doc.model_id, 'model_id');
  s.oneOf(doc.disclosure, 'disclosure', ['full', 'partial']);
  const partial = doc.disclosure === 'partial';
  s.keys(doc.signer, 'signer', ['algorithm', 'public_key', 'key_id']);
  s.oneOf(doc.signer.algorithm, 'signer.algorithm', ['ed25519']);
  s.hex(doc.signer.public_key, 'signer.public_key', 64);
  s.hex(doc.signer.key_id, 'signer.key_id', 64);
  s.array(doc.records, 'records').forEach((r, i) => checkRecordShape(s, r, `records[${i}]`, partial));
  s.array(doc.tree_heads, 'tree_heads').forEach((th, i) => {
    const p = `tree_heads[${i}]`;
    s.keys(th, p, ['head', 'signature', 'consistency']);
    const h = th.head;
    s.keys(h, `${p}.head`, ['model_id', 'tree_size', 'root_hash', 'prev_head', 'timestamp', 'key_id']);
    s.name(h.model_id, `${p}.head.model_id`);
    s.int(h.tree_size, `${p}.head.tree_size`, 1);
    s.hex(h.root_hash, `${p}.head.root_hash`, 64);
    s.nullable(h.prev_head, `${p}.head.prev_head`, (v, q) => s.hex(v, q, 64));
    s.timestamp(h.timestamp, `${p}.head.timestamp`);
    s.hex(h.key_id, `${p}.head.key_id`, 64);
    s.signature(th.signature, `${p}.signature`);
    s.array(th.consistency, `${p}.consistency`).forEach((c, j) => s.hex(c, `${p}.consistency[${j}]`, 64));
  });
  s.array(doc.anchors, 'anchors').forEach((r, i) => checkReceiptShape(s, r, `anchors[${i}]`));
  s.nullable(doc.final_model_hash, 'final_model_hash', s.name);
  s.hex(doc.merkle_root, 'merkle_root', 64);
  s.array(doc.blockchain_transactions, 'blockchain_transactions').forEach((t, i) =>
    s.hex0x(t, `blockchain_transactions[${i}]`, 64),
  );
  s.timestamp(doc.proof_timestamp, 'proof_timestamp');
  const vm = doc.verification_metadata;
  s.keys(
    vm,
    'verification_metadata',
    ['generator', 'record_count', 'training_checkpoints', 'validations', 'tree_heads', 'log_size', 'anchor_receipts'],
    ['steps_records', 'event_records'],
  );
  s.text(vm.generator, 'verification_metadata.generator', 256);
  for (const k of ['record_count', 'training_checkpoints', 'validations', 'tree_heads', 'log_size', 'steps_records', 'event_records'])
    if (k in vm) s.int(vm[k], `verification_metadata.${k}`, 0);
  s.nameMap(vm.anchor_receipts, 'verification_metadata.anchor_receipts', function (v, p) {
    this.int(v, p, 0);
  });
  s.signature(doc.signature_hash, 'signature_hash');
}

// ---------------------------------------------------------------- checks 2-11

function bodyOf(rec) {
  const b = Object.create(null);
  for (const k of Object.keys(rec)) if (k !== 'id' && k !== 'inclusion') b[k] = rec[k];
  return b;
}
const intOf = (n) => (n instanceof Num ? Number(n.text) : n);

function verifyDocument(doc, { trustedKey, nowMicros }) {
  checkEnvelope(doc);
  const partial = doc.disclosure === 'partial';
  const F = (check, msg) => {
    throw new Fail(check, msg);
  };

  // 2. Signer
  const pk = doc.signer.public_key;
  const pkProblem = publicKeyProblem(Buffer.from(pk, 'hex'));
  if (pkProblem) F(2, `signer.public_key is not a valid key (${pkProblem})`);
  const keyId = sha256(Buffer.from(pk, 'hex')).toString('hex');
  if (doc.signer.key_id !== keyId) F(2, 'signer.key_id is not the hash of public_key');
  if (trustedKey !== undefined && trustedKey !== null && !Buffer.from(pk, 'hex').equals(trustedKey))
    F(2, 'signer.public_key is not the trusted key');

  // 3. Records
  const heads = doc.tree_heads.map((th) => th.head);
  const latest = heads.length ? heads[heads.length - 1] : null;
  const recs = doc.records;
  const leaves = [];
  let prevSeq = -1;
  recs.forEach((rec, i) => {
    const leaf = leafHash(bodyOf(rec));
    leaves.push(leaf);
    if (rec.id !== leaf.toString('hex')) F(3, `records[${i}].id is not the leaf hash of its body`);
    if (rec.model_id !== doc.model_id) F(3, `records[${i}].model_id is not the proof's`);
    const seq = intOf(rec.seq);
    if (seq <= prevSeq) F(3, `records[${i}].seq does not strictly increase`);
    prevSeq = seq;
    if (latest && seq >= intOf(latest.tree_size)) F(3, `records[${i}].seq is not below the latest head's tree_size`);
    if (!partial && seq !== i) F(3, `records[${i}] has seq ${seq} in a full proof`);
  });

  // 4. Tree heads
  if (heads.length === 0) F(4, 'no tree heads');
  const headHashes = [];
  doc.tree_heads.forEach((th, i) => {
    const h = th.head;
    if (h.model_id !== doc.model_id) F(4, `tree_heads[${i}].head.model_id is not the proof's`);
    if (h.key_id !== keyId) F(4, `tree_heads[${i}].head.key_id is not the signer's`);
    if (!verifySignature(pk, th.signature, signingInput(DOMAIN.head, h)))
      F(4, `tree_heads[${i}].signature does not verify`);
    const expectPrev = i === 0 ? null : headHashes[i - 1];
    if (h.prev_head !== expectPrev) F(4, `tree_heads[${i}].head.prev_head is not the previous head's hash`);
    if (i > 0 && intOf(h.tree_size) <= intOf(heads[i - 1].tree_size))
      F(4, `tree_heads[${i}].head.tree_size does not increase`);
    if (!partial) {
      const size = intOf(h.tree_size);
      if (size > leaves.length) F(4, `tree_heads[${i}].head.tree_size exceeds the records`);
      if (mth(leaves.slice(0, size)).toString('hex') !== h.root_hash)
        F(4, `tree_heads[${i}].head.root_hash is not the root of the first ${size} records`);
    }
    headHashes.push(objectHash(DOMAIN.head, h));
  });
  if (!partial && intOf(latest.tree_size) !== recs.length)
    F(4, "the latest head's tree_size is not the number of records");

  // 5. Consistency
  doc.tree_heads.forEach((th, i) => {
    if (i === 0) {
      if (th.consistency.length !== 0) F(5, 'the first head has a consistency proof');
      return;
    }
    const a = heads[i - 1];
    const b = th.head;
    const ok = verifyConsistency(
      intOf(a.tree_size), intOf(b.tree_size), Buffer.from(a.root_hash, 'hex'), Buffer.from(b.root_hash, 'hex'),
      th.consistency.map((c) => Buffer.from(c, 'hex')),
    );
    if (!ok) F(5, `tree_heads[${i}].consistency does not verify`);
  });

  // 6. Inclusion
  if (partial) {
    recs.forEach((rec, i) => {
      const ok = verifyInclusion(
        intOf(rec.seq), intOf(latest.tree_size), leaves[i], rec.inclusion.map((c) => Buffer.from(c, 'hex')),
        Buffer.from(latest.root_hash, 'hex'),
      );
      if (!ok) F(6, `records[${i}].inclusion does not verify`);
    });
  }

  // 7. Timestamps
  const firstHeadCovering = (seq) => heads.findIndex((h) => intOf(h.tree_size) > seq);
  recs.forEach((rec, i) => {
    const h = heads[firstHeadCovering(intOf(rec.seq))];
    if (rec.timestamp > h.timestamp) F(7, `records[${i}].timestamp is after the first head covering it`);
  });
  heads.forEach((h, i) => {
    if (i > 0 && h.timestamp < heads[i - 1].timestamp) F(7, `tree_heads[${i}].head.timestamp decreases`);
  });
  if (latest.timestamp > doc.proof_timestamp) F(7, "the latest head's timestamp is after proof_timestamp");
  const headIndexOf = new Map(headHashes.map((h, i) => [h, i]));
  doc.anchors.forEach((r, i) => {
    const hi = headIndexOf.get(r.head_hash);
    if (hi !== undefined && r.timestamp < heads[hi].timestamp) F(7, `anchors[${i}].timestamp is before its head's`);
    if (r.timestamp > doc.proof_timestamp) F(7, `anchors[${i}].timestamp is after proof_timestamp`);
  });
  if (timestampMicros(doc.proof_timestamp) > nowMicros + BigInt(DAY) * MICROS)
    F(7, 'proof_timestamp is more than one day after now');

  // 8. Lineage
  checkLineage(doc, recs, partial, F);

  // 9. Anchors
  const backendsPerHead = new Map();
  const entriesByIndex = new Map();
  const claimed = heads.map(() => []); // claimed times of chain receipts, per head
  doc.anchors.forEach((r, i) => {
    const p = `anchors[${i}]`;
    const hi = headIndexOf.get(r.head_hash);
    if (hi === undefined) F(9, `${p}.head_hash names no head of the proof`);
    const h = heads[hi];
    if (r.root_hash !== h.root_hash) F(9, `${p}.root_hash is not its head's`);
    if (r.key_id !== keyId) F(9, `${p}.key_id is not the signer's`);
    const body = bodyOf(r);
    delete body.signature;
    if (!verifySignature(pk, r.signature, signingInput(DOMAIN.receipt, body))) F(9, `${p}.signature does not verify`);
    const seen = backendsPerHead.get(hi) || new Set();
    if (seen.has(r.backend)) F(9, `${p}: head ${hi} has two ${r.backend} receipts`);
    seen.add(r.backend);
    backendsPerHead.set(hi, seen);
    if (!(r.backend in STRENGTH)) F(9, `${p}.backend ${JSON.stringify(r.backend)} is not a known backend`);
    const d = r.details;
    if (r.backend === 'localchain') {
      const e = d.entry;
      if (e.model_id !== h.model_id) F(9, `${p}.details.entry.model_id is not its head's`);
      if (intOf(e.tree_size) !== intOf(h.tree_size)) F(9, `${p}.details.entry.tree_size is not its head's`);
      if (e.root_hash !== h.root_hash) F(9, `${p}.details.entry.root_hash is not its head's`);
      if (e.head_hash !== r.head_hash) F(9, `${p}.details.entry.head_hash is not its head's`);
      if (e.key_id !== keyId) F(9, `${p}.details.entry.key_id is not the signer's`);
      if (!verifySignature(pk, d.entry_signature, signingInput(DOMAIN.entry, e)))
        F(9, `${p}.details.entry_signature does not verify`);
      const idx = intOf(e.index);
      const c = jcs(e);
      if (entriesByIndex.has(idx) && entriesByIndex.get(idx) !== c)
        F(9, `${p}: two local chain entries share index ${idx} with different content`);
      entriesByIndex.set(idx, c);
    } else if (r.backend === 'ethereum') {
      if (d.meta_hash !== `0x${r.head_hash}`) F(9, `${p}.details.meta_hash is not 0x + the head hash`);
      const bt = intOf(d.block_time);
      if (bt > wholeSeconds(r.timestamp) + ALLOWANCE) F(9, `${p}: block_time is later than the receipt's timestamp`);
      if (BigInt(bt) * MICROS > nowMicros + BigInt(DAY) * MICROS) F(9, `${p}: claimed time is more than one day after now`);
      claimed[hi].push(bt);
    } else if (r.backend === 'ethereum-aggregate') {
      // §6.5: metaHash names the aggregate and the signer; the path leads from this head's leaf to the root.
      const meta = sha256(signingInput(DOMAIN.aggregateAnchor, {
        aggregate_root: d.aggregate_root, aggregate_size: d.aggregate_size, key_id: keyId })).toString('hex');
      if (d.meta_hash !== `0x${meta}`) F(9, `${p}.details.meta_hash is not the aggregate's metaHash`);
      const path = d.path.map((n) => Buffer.from(n, 'hex'));
      if (!verifyInclusion(intOf(d.leaf_index), intOf(d.aggregate_size), aggregateLeaf(r.head_hash), path,
        Buffer.from(d.aggregate_root, 'hex')))
        F(9, `${p}.details.path does not lead from the head's aggregate leaf to aggregate_root`);
      const bt = intOf(d.block_time);
      if (bt > wholeSeconds(r.timestamp) + ALLOWANCE) F(9, `${p}: block_time is later than the receipt's timestamp`);
      if (BigInt(bt) * MICROS > nowMicros + BigInt(DAY) * MICROS) F(9, `${p}: claimed time is more than one day after now`);
      claimed[hi].push(bt);
    } else if (r.backend === 'tsa') {
      const gt = wholeSeconds(d.gen_time);
      if (gt > wholeSeconds(r.timestamp) + ALLOWANCE) F(9, `${p}: gen_time is later than the receipt's timestamp`);
      if (BigInt(gt) * MICROS > nowMicros + BigInt(DAY) * MICROS) F(9, `${p}: claimed time is more than one day after now`);
      claimed[hi].push(gt);
    }
  });
  // Earliest claimed time among the chain and TSA receipts of head j and every later head.
  const earliestFrom = new Array(heads.length).fill(Infinity);
  for (let j = heads.length - 1; j >= 0; j--)
    earliestFrom[j] = Math.min(j + 1 < heads.length ? earliestFrom[j + 1] : Infinity, ...claimed[j]);
  recs.forEach((rec, i) => {
    const t = earliestFrom[firstHeadCovering(intOf(rec.seq))];
    if (t !== Infinity && wholeSeconds(rec.timestamp) > t + ALLOWANCE)
      F(9, `records[${i}].timestamp is later than an anchor's claimed time (+${ALLOWANCE} s)`);
  });

  // 10. Summary
  let finalModelHash = null;
  if (!partial) for (const r of recs) if (r.type === 'checkpoint') finalModelHash = r.model_hash;
  if (doc.final_model_hash !== finalModelHash) F(10, 'final_model_hash is not what the records give');
  if (doc.merkle_root !== latest.root_hash) F(10, "merkle_root is not the latest head's root_hash");
  const txs = doc.anchors.filter((r) => STRENGTH[r.backend] === 'chain').map((r) => r.details.tx_hash);
  if (jcs(doc.blockchain_transactions) !== jcs(txs)) F(10, 'blockchain_transactions is not the chain receipts\' tx_hash list');
  const expectMeta = Object.create(null);
  expectMeta.record_count = recs.length;
  expectMeta.training_checkpoints = recs.filter((r) => r.type === 'checkpoint').length;
  expectMeta.validations = recs.filter((r) => r.type === 'validation').length;
  expectMeta.tree_heads = heads.length;
  expectMeta.log_size = intOf(latest.tree_size);
  const ar = Object.create(null);
  for (const r of doc.anchors) ar[r.backend] = (ar[r.backend] || 0) + 1;
  expectMeta.anchor_receipts = ar;
  for (const t of ['steps', 'event']) {
    const n = recs.filter((r) => r.type === t).length;
    if (n) expectMeta[`${t}_records`] = n;
  }
  const gotMeta = Object.create(null);
  for (const k of Object.keys(doc.verification_metadata))
    if (k !== 'generator') gotMeta[k] = doc.verification_metadata[k];
  if (jcs(gotMeta) !== jcs(expectMeta)) F(10, 'verification_metadata does not count this document');

  // 11. Proof signature
  if (!verifySignature(pk, doc.signature_hash, proofSigningInput(doc)))
    F(11, 'signature_hash does not verify');

  return { strengths: headStrengths(heads, doc.anchors, headIndexOf), ctx: { doc, pk, keyId, leaves, headHashes, partial } };
}

export function proofSigningInput(doc) {
  const partial = doc.disclosure === 'partial';
  const V = Object.create(null);
  for (const k of Object.keys(doc)) if (k !== 'signature_hash') V[k] = doc[k];
  V.records = doc.records.map((r) => {
    const o = Object.create(null);
    o.id = r.id;
    if (partial) o.inclusion = r.inclusion;
    return o;
  });
  return signingInput(DOMAIN.proof, V);
}

// §10, offline: a head covered by a chain receipt (its own or a later head's) is
// chain-unchecked; else one covered by a TSA receipt is tsa-unchecked (this verifier pins no
// TSA certificate); else one covered by a local receipt is local; else none.
function headStrengths(heads, anchors, headIndexOf) {
  const best = heads.map(() => new Set());
  for (const r of anchors) best[headIndexOf.get(r.head_hash)].add(STRENGTH[r.backend]);
  const out = [];
  let chain = false;
  let tsa = false;
  let local = false;
  for (let j = heads.length - 1; j >= 0; j--) {
    chain = chain || best[j].has('chain');
    tsa = tsa || best[j].has('tsa');
    local = local || best[j].size > 0;
    const strength = chain ? 'chain-unchecked' : tsa ? 'tsa-unchecked' : local ? 'local' : 'none';
    out.unshift({ tree_size: intOf(heads[j].tree_size), strength });
  }
  return out;
}

function numericResults(vr) {
  const o = Object.create(null);
  for (const k of Object.keys(vr)) {
    const v = vr[k];
    if (v instanceof Num || v === 'NaN' || v === 'Infinity' || v === '-Infinity') o[k] = v;
  }
  return o;
}

function checkLineage(doc, recs, partial, F) {
  // Lamport stamps per node strictly increase in log order.
  const lastStamp = new Map();
  const stampPos = new Map(); // "node\0lamport" -> index
  recs.forEach((r, i) => {
    if (!('node_id' in r)) return;
    const l = intOf(r.lamport);
    if (lastStamp.has(r.node_id) && l <= lastStamp.get(r.node_id))
      F(8, `records[${i}]: node ${JSON.stringify(r.node_id)}'s lamport stamps do not strictly increase`);
    lastStamp.set(r.node_id, l);
    stampPos.set(`${r.node_id}\0${l}`, i);
  });
  recs.forEach((r, i) => {
    if (r.type !== 'event' || !('merged_from' in r.data)) return;
    const m = r.data.merged_from;
    const ml = intOf(m.lamport);
    if (!(intOf(r.lamport) > ml)) F(8, `records[${i}]: lamport is not above merged_from's`);
    const key = `${m.node_id}\0${ml}`;
    if (stampPos.has(key) && stampPos.get(key) >= i)
      F(8, `records[${i}]: the merged event does not come earlier in the log`);
  });
  // Promotions: decision recomputed.
  recs.forEach((r, i) => {
    if (r.type !== 'event' || (r.event !== 'ModelPromoted' && r.event !== 'PromotionRefused')) return;
    const d = r.data;
    const expect = decide(d.gate, combine(d.inputs));
    if (jcs(expect) !== jcs(d.decision)) F(8, `records[${i}]: decision is not what the gate gives on its inputs`);
    if ((r.event === 'ModelPromoted') !== expect.passed)
      F(8, `records[${i}]: ${r.event} but the decision ${expect.passed ? 'passed' : 'failed'}`);
  });
  // §8.8, every proof: an input that names a record the proof discloses names a
  // validation record earlier in the log, of the promoted model_hash, whose numeric
  // results equal the input's metrics (JCS). In a full proof every record is disclosed, so
  // an input naming none fails; in a partial proof an input naming an undisclosed record
  // is not checked (nothing shows what it names).
  const posById = new Map(recs.map((r, i) => [r.id, i]));
  recs.forEach((r, i) => {
    if (r.type !== 'event' || (r.event !== 'ModelPromoted' && r.event !== 'PromotionRefused')) return;
    r.data.inputs.forEach((inp, j) => {
      const p = `records[${i}].data.inputs[${j}]`;
      const vi = posById.get(inp.validation_id);
      if (vi === undefined) {
        if (!partial) F(8, `${p}.validation_id names no record of the proof`);
        return;
      }
      const v = recs[vi];
      if (v.type !== 'validation') F(8, `${p}.validation_id names a ${v.type} record, not a validation`);
      if (vi >= i) F(8, `${p}.validation_id names a validation that does not come earlier in the log`);
      if (v.model_hash !== r.data.model_hash) F(8, `${p} validates another model_hash`);
      if (jcs(numericResults(v.validation_result)) !== jcs(inp.metrics))
        F(8, `${p}.metrics are not the validation's numeric results`);
    });
  });
  if (partial) return;
  // Full proofs: runs, hashes, rollbacks.
  const started = new Set();
  const completed = new Set();
  const promoted = new Set(); // stage\0model_hash
  recs.forEach((r, i) => {
    const isStart = r.type === 'event' && r.event === 'RunStarted';
    if ('run_id' in r) {
      const run = r.run_id;
      if (isStart) {
        if (started.has(run)) F(8, `records[${i}]: run ${JSON.stringify(run)} starts twice`);
        started.add(run);
      } else if (!started.has(run)) {
        F(8, `records[${i}]: a record of run ${JSON.stringify(run)} before its RunStarted`);
      }
      if (completed.has(run)) F(8, `records[${i}]: a record of run ${JSON.stringify(run)} after its RunCompleted`);
      if (r.type === 'event' && r.event === 'RunCompleted') completed.add(run);
    }
    if (isStart) {
      const h = (x) => sha256(jcsBytes(x)).toString('hex');
      if (r.data.config_hash !== h(r.data.config)) F(8, `records[${i}]: config_hash is not H(JCS(config))`);
      if (r.data.environment_hash !== h(r.data.environment))
        F(8, `records[${i}]: environment_hash is not H(JCS(environment))`);
    }
    if (r.type === 'event' && r.event === 'ModelPromoted') promoted.add(`${r.data.stage}\0${r.data.model_hash}`);
    if (r.type === 'event' && r.event === 'ModelRolledBack') {
      if (!promoted.has(`${r.data.stage}\0${r.data.to_model_hash}`))
        F(8, `records[${i}]: rollback to a model_hash never promoted to ${JSON.stringify(r.data.stage)}`);
    }
  });
}

// ---------------------------------------------------------------- entry point

// The verifier's clock (§8): this machine's, or a §1 timestamp it is given. Microseconds
// since 1970 (a BigInt), or null when `s` is not a §1 timestamp.
export function parseNow(s) {
  if (s === undefined || s === null) return BigInt(Date.now()) * 1000n;
  return timestampMicros(s);
}

// A trusted key that is not valid is bad input (§8), refused before anything is verified:
// verifyProof throws a UsageError for it (verify.mjs exits 2), as for a `now` that is not
// a timestamp.
export class UsageError extends Error {}

export function verifyProof(bytes, { trustedKey = null, now = null, localChain = null } = {}) {
  const nowMicros = parseNow(now);
  if (nowMicros === null) throw new UsageError(`now is not a timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ: ${now}`);
  let trusted = null;
  if (trustedKey !== null && trustedKey !== undefined) {
    const t = parseTrustedKey(trustedKey);
    if (t.error) throw new UsageError(`the trusted key is not a valid Ed25519 public key (${t.error})`);
    trusted = t.bytes;
  }
  let doc;
  try {
    doc = parseBytes(bytes);
  } catch (e) {
    if (e instanceof JsonError) return { ok: false, failed_check: 1, check_name: CHECKS[1], reason: e.message, heads: [] };
    throw e;
  }
  try {
    const { strengths: heads, ctx } = verifyDocument(doc, { trustedKey: trusted, nowMicros });
    if (localChain !== null) {
      const problem = checkLocalChain(localChain, {
        ...ctx,
        entryHash: (e) => objectHash(DOMAIN.entry, e),
        signingInput: (e) => signingInput(DOMAIN.entry, e),
      }, { Shape, checkEntryShape });
      if (problem) throw new Fail(12, problem);
    }
    return { ok: true, failed_check: null, check_name: null, reason: null, heads };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, failed_check: e.check, check_name: CHECKS[e.check], reason: e.message, heads: [] };
    throw e;
  }
}

export { parseTrustedKey, publicKeyProblemHex };

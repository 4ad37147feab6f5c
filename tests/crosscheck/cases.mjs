#!/usr/bin/env node
// Writes edge-case proofs, each re-derived and re-signed with the vectors' key so that
// only the rule under test decides it, and records what docs/PROOF_FORMAT.md says of
// each ("verify" or "fail") and this verifier's verdict.
//
//   node tests/crosscheck/cases.mjs OUTDIR
//
// OUTDIR gets one .json per case and manifest.json: [{file, spec, why, trusted_key, now,
// local_chain, js: {ok, failed_check, reason, heads}}]. `local_chain` names the local chain
// file (§6.1) a case gives the verifier for §8's optional check (`--local-chain`), or null. Cases where the spec leaves the verdict
// open have spec "open". `now` is the verifier's clock (§8) for the cases that need one
// (a verifier is given it, `--now`), else null (its own clock will do).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Num } from './lib/json.mjs';
import { decide, combine } from './lib/gate.mjs';
import { keyFromSeed } from './lib/ed25519.mjs';
import { N, clone, headHashes, load, localChainFile, oddSignature, resign, serialize, toPartial, tree } from './lib/forge.mjs';
import { proofSigningInput, signingInput, verifyProof } from './lib/verifier.mjs';
import { jcs, jcsBytes } from './lib/jcs.mjs';
import { mth, sha256 } from './lib/merkle.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const assets = path.join(here, '..', 'assets');
const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node cases.mjs OUTDIR\n');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

const V = load(fs.readFileSync(path.join(assets, 'vectors', 'v1.json')));
const SEED = V.key.seed;
const PK = V.key.public_key;
const base = (name) => load(fs.readFileSync(path.join(assets, 'proofs', 'v1', `${name}.proof.json`)));
const BF = base('basic-full');
const LF = base('lineage-full');
const RF = base('replay-full');

// The clock of the cases that need one: the corpus proofs were made around it.
const NOW = '2026-11-22T12:00:00.000000Z';
const manifest = [];
let n = 0;
function emit(name, spec, why, doc, { text = null, bytes = null, trustedKey = PK, now = null, chain = null } = {}) {
  n++;
  const file = `${String(n).padStart(3, '0')}-${name}.json`;
  const body = bytes !== null ? bytes : Buffer.from(text !== null ? text : serialize(doc));
  fs.writeFileSync(path.join(out, file), body);
  let localChain = null;
  let chainFile = null;
  if (chain !== null) {
    localChain = Buffer.isBuffer(chain) ? chain : Buffer.from(chain);
    chainFile = `${String(n).padStart(3, '0')}-${name}.localchain.jsonl`;
    fs.writeFileSync(path.join(out, chainFile), localChain);
  }
  const js = verifyProof(body, { trustedKey, now, localChain });
  manifest.push({ file, name, spec, why, trusted_key: trustedKey, now, local_chain: chainFile, js });
}
// case(name, spec, why, baseDoc, edit(doc), hooks)
function kase(name, spec, why, b, edit = () => {}, hooks = {}, opts = {}) {
  const doc = clone(b);
  const old = headHashes(doc);
  edit(doc);
  resign(doc, SEED, hooks, old);
  emit(name, spec, why, doc, opts);
}
const rec = (doc, seq) => doc.records[seq];
const byEvent = (doc, ev) => doc.records.find((r) => r.type === 'event' && r.event === ev);
const validation = (doc) => doc.records.find((r) => r.type === 'validation');
const S = (s) => s; // readability

// Re-derive a promotion's inputs and decision after its validation changed.
function repromote(doc) {
  const v = validation(doc);
  const p = byEvent(doc, 'ModelPromoted') || byEvent(doc, 'PromotionRefused');
  const metrics = Object.create(null);
  for (const k of Object.keys(v.validation_result)) {
    const x = v.validation_result[k];
    if (x instanceof Num || x === 'NaN' || x === 'Infinity' || x === '-Infinity') metrics[k] = x;
  }
  p.data.inputs = [Object.assign(Object.create(null), { metrics, validation_id: null })];
  return { v, p };
}
// Hook: after ids are known, point promotion inputs at the validation and recompute the decision.
const fixPromotion = (doc) => {
  const v = validation(doc);
  for (const p of doc.records.filter((r) => r.type === 'event' && (r.event === 'ModelPromoted' || r.event === 'PromotionRefused'))) {
    p.data.inputs.forEach((i) => {
      if (i.validation_id === null) i.validation_id = v.id;
    });
    p.data.decision = tree(JSON.parse(JSON.stringify(decide(p.data.gate, combine(p.data.inputs)), (k, x) => (x instanceof Num ? x.value : x))));
    p.event = p.data.decision.passed ? 'ModelPromoted' : 'PromotionRefused';
  }
};
// Records change after promotion inputs need their ids, so re-sign twice: once to get
// ids, then fix the promotion and re-sign again.
function kase2(name, spec, why, b, edit, after = () => {}) {
  const doc = clone(b);
  const old = headHashes(doc);
  edit(doc);
  resign(doc, SEED, {}, old);
  fixPromotion(doc);
  after(doc);
  resign(doc, SEED);
  emit(name, spec, why, doc);
}

// ---------------------------------------------------------------- sanity of the forge
kase('resign-basic', 'verify', 're-signing basic-full unchanged', BF);
kase('resign-lineage', 'verify', 're-signing lineage-full unchanged', LF);

// ---------------------------------------------------------------- recorded for replay (§3)
{
  const steps = (doc) => doc.records.find((r) => r.type === 'steps');
  const ckpt = (doc) => doc.records.find((r) => r.type === 'checkpoint');
  kase('replay-resign', 'verify', 're-signing replay-full unchanged', RF);
  kase('replay-batches-short', 'fail', '§3: batches has one digest per step', RF, (d) => { steps(d).batches.pop(); });
  kase('replay-batches-upper', 'fail', '§3: a batch digest is 64 lower-case hex', RF,
    (d) => { steps(d).batches[0] = steps(d).batches[0].toUpperCase(); });
  kase('replay-batches-null', 'fail', '§3: optional fields are absent, never null', RF, (d) => { steps(d).batches = null; });
  kase('replay-batches-absent', 'verify', '§3: batches is optional', RF, (d) => { delete steps(d).batches; });
  kase('replay-optimizer-hash-short', 'fail', '§3: optimizer_hash is 64 hex', RF,
    (d) => { ckpt(d).optimizer_hash = ckpt(d).optimizer_hash.slice(2); });
  kase('replay-rng-hash-number', 'fail', '§3: rng_hash is 64 hex', RF, (d) => { ckpt(d).rng_hash = new Num('7', 7); });
  kase('replay-hashes-absent', 'verify', '§3: optimizer_hash and rng_hash are optional, each alone', RF,
    (d) => { delete ckpt(d).rng_hash; });
}
{
  const full = clone(LF);
  resign(full, SEED);
  emit('partial-of-lineage', 'verify', 'a partial proof of lineage-full disclosing a checkpoint and the promotion', toPartial(full, [2, 8], SEED));
  emit('partial-no-records', 'verify', '§7: a partial proof discloses zero or more records', toPartial(full, [], SEED));
  const p = toPartial(full, [3], SEED);
  delete p.records[0].inclusion;
  emit('partial-record-without-inclusion', 'fail', '§7: a record carries inclusion exactly when the proof is partial', p);
}

// ---------------------------------------------------------------- JSON and numbers (§1)
kase('integer-field-spelled-1.0', 'fail', '§1: integer fields never 6.0 (JCS, hence ids, unchanged)', BF, (d) => {
  rec(d, 1).epoch = new Num('1.0', 1);
});
kase('integer-field-spelled-1e0', 'fail', '§1: integer fields never 6e0', BF, (d) => {
  rec(d, 1).epoch = new Num('1e0', 1);
});
kase('head-tree-size-spelled-2.0', 'fail', '§1: tree_size is an integer field (head signature unchanged)', BF, () => {}, {
  head: (h, i) => {
    if (i === 0) h.tree_size = new Num('2.0', 2);
  },
});
kase('metadata-count-spelled-6e0', 'fail', '§1: verification_metadata counts are integers', BF, () => {}, {
  summary: (d) => {
    d.verification_metadata.record_count = new Num('6e0', 6);
  },
});
kase('seq-minus-zero', 'verify', '§1: "an optional minus sign and digits": -0 is an integer, value 0', BF, (d) => {
  rec(d, 0).seq = new Num('-0', 0);
});
kase('float-respelled', 'verify', '§1: a non-integer number may be written in any form (1.5 as 15e-1)', BF, (d) => {
  rec(d, 0).metrics.loss = new Num('15e-1', 1.5);
  rec(d, 1).metrics.loss = new Num('0.750E0', 0.75);
});
kase('metric-minus-zero-float', 'verify', '§1: -0.0 is a number; JCS writes 0', BF, (d) => {
  rec(d, 0).metrics.loss = new Num('-0.0', -0);
});
kase('integer-max-safe', 'verify', '§1: integers within ±(2^53−1)', BF, (d) => {
  rec(d, 0).rank = new Num('9007199254740991', 9007199254740991);
});
kase('integer-above-max-safe', 'fail', '§1: integers within ±(2^53−1)', BF, (d) => {
  rec(d, 0).rank = new Num('9007199254740992', 9007199254740992);
});
kase('free-form-big-integer', 'fail', '§1: a number written as an integer is within ±(2^53−1) wherever it appears', LF, (d) => {
  rec(d, 0).data.config.big = new Num('12345678901234567890', 12345678901234567890);
  rehash(d);
});
kase('free-form-1e300', 'verify', '§1: 1e300 is a double', LF, (d) => {
  rec(d, 0).data.config.huge = new Num('1e300', 1e300);
  rehash(d);
});
kase('free-form-5e-324', 'verify', '§1: the smallest subnormal does not underflow', LF, (d) => {
  rec(d, 0).data.config.tiny = new Num('5e-324', 5e-324);
  rehash(d);
});
kase('free-form-zero-exponent', 'verify', '§1: 0e5 is zero', LF, (d) => {
  rec(d, 0).data.config.z = new Num('0e5', 0);
  rehash(d);
});
{
  const doc = clone(LF);
  resign(doc, SEED);
  const t = serialize(doc).replace('"lr": 0.01', '"lr": 1e400');
  emit('free-form-1e400', 'fail', '§1: 1e400 overflows', null, { text: t });
  emit('free-form-1e-400', 'fail', '§1: 1e-400 underflows', null, { text: serialize(doc).replace('"lr": 0.01', '"lr": 1e-400') });
  emit('free-form-integer-400-digits', 'fail', '§1: an integer of 400 digits overflows a double', null, {
    text: serialize(doc).replace('"lr": 0.01', `"lr": 1${'0'.repeat(400)}`),
  });
  emit('utf8-bom', 'fail', '§1: UTF-8 without a byte order mark', null, { text: '\ufeff' + serialize(doc) });
  emit('escaped-key-duplicate', 'fail', '§1: duplicate keys, one spelled with an escape', null, {
    text: serialize(doc).replace('"disclosure": "full",', '"disclosure": "full", "disclosur\\u0065": "full",'),
  });
  emit('string-escapes-and-compact', 'verify', '§1: escapes and whitespace do not change values', null, {
    text: serialize(doc, 0).replace('"digits-run"', '"digits\\u002drun"').replace('"trained_on"', '"trained\\u005fon"'),
  });
}
kase('free-form-depth-64', 'verify', '§1: nesting up to 64 levels (record level 3, fields 4)', BF, (d) => {
  rec(d, 3).validation_result.deep = nest(60); // arrays at levels 5..64
});
kase('free-form-depth-65', 'fail', '§1: more than 64 levels', BF, (d) => {
  rec(d, 3).validation_result.deep = nest(61); // arrays at levels 5..65
});
{
  const doc = clone(BF);
  rec(doc, 3).validation_result.note = 'aXb';
  resign(doc, SEED);
  emit('free-form-lone-surrogate-value', 'fail', '§1: a document holding a lone surrogate in any string is refused (id left as for "aXb")', null, {
    text: serialize(doc).replace('"aXb"', '"a\\ud800b"'),
  });
}
kase('free-form-key-with-refused-code-point', 'verify', '§3: free-form objects are not names', BF, (d) => {
  rec(d, 3).validation_result['x\u202ey'] = 'z';
});
kase('free-form-empty-key', 'verify', '§3: a free-form object may have an empty key', BF, (d) => {
  rec(d, 3).validation_result[''] = 'z';
});

// ---------------------------------------------------------------- names, text, timestamps (§1)
kase('name-zero-width-space', 'fail', '§1: U+200B in a name', BF, (d) => {
  rec(d, 0).model_hash = 'a\u200bb';
});
kase('name-256-astral', 'verify', '§1: names count code points: 256 astral code points (512 UTF-16 units)', BF, (d) => {
  rec(d, 0).model_hash = '\u{1F600}'.repeat(256);
});
kase('name-257', 'fail', '§1: 257 code points', BF, (d) => {
  rec(d, 0).model_hash = 'x'.repeat(257);
});
kase('metric-name-empty', 'fail', '§3: metric names are names', BF, (d) => {
  rec(d, 0).metrics[''] = N(1);
});
kase('generator-257', 'fail', '§7: generator is text of at most 256 code points', BF, () => {}, {
  summary: (d) => {
    d.verification_metadata.generator = 'g'.repeat(257);
  },
});
kase('generator-empty', 'verify', '§7: text may be empty', BF, () => {}, {
  summary: (d) => {
    d.verification_metadata.generator = '';
  },
});
kase('user-256-astral', 'verify', '§3: user is text of at most 256 code points', LF, (d) => {
  rec(d, 0).data.user = '\u{1F600}'.repeat(256);
});
kase('error-2001', 'fail', '§3: error is text of at most 2,000 code points', LF, (d) => {
  rec(d, 7).data.error = 'e'.repeat(2001);
});
kase('timestamp-2000-01-01', 'verify', '§1: timestamps from 2000-01-01T00:00:00.000000Z on', BF, (d) => {
  rec(d, 0).timestamp = '2000-01-01T00:00:00.000000Z';
});
kase('timestamp-1999', 'fail', '§1: before 2000', BF, (d) => {
  rec(d, 0).timestamp = '1999-12-31T23:59:59.999999Z';
});
kase('timestamp-leap-day', 'verify', '§1: 2024-02-29 is real', BF, (d) => {
  rec(d, 0).timestamp = '2024-02-29T12:00:00.000000Z';
});
kase('timestamp-not-leap-day', 'fail', '§1: 2023-02-29 is not', BF, (d) => {
  rec(d, 0).timestamp = '2023-02-29T12:00:00.000000Z';
});
kase('timestamp-hour-24', 'fail', '§1: no hour 24', BF, (d) => {
  rec(d, 0).timestamp = '2026-11-21T24:00:00.000000Z';
});
kase('timestamp-second-60', 'fail', '§1: no leap second', BF, (d) => {
  rec(d, 0).timestamp = '2016-12-31T23:59:60.000000Z';
});
kase('timestamp-five-digits', 'fail', '§1: always six fractional digits', BF, (d) => {
  rec(d, 0).timestamp = '2026-11-22T12:00:00.00000Z';
});
kase('timestamp-offset', 'fail', '§1: always UTC with Z', BF, (d) => {
  rec(d, 0).timestamp = '2026-11-22T12:00:00.000000+00:00';
});

// ---------------------------------------------------------------- record schema (§3)
kase('salt-absent', 'verify', '§3: salt is optional', BF, (d) => {
  delete rec(d, 0).salt;
});
kase('salt-upper-case', 'fail', '§1: hex is lower case', BF, (d) => {
  rec(d, 0).salt = 'ABCDEF00000000000000000000000000';
});
kase('rank-negative', 'fail', '§3: rank ≥ 0', BF, (d) => {
  rec(d, 0).rank = N(-1);
});
kase('optional-null', 'fail', '§3: optional fields must not appear as null', BF, (d) => {
  rec(d, 0).run_id = null;
});
kase('node-id-without-lamport', 'fail', '§3: node_id and lamport come together', BF, (d) => {
  rec(d, 0).node_id = 'n';
});
kase('checkpoint-file-name-alone', 'fail', '§3: file_name is present exactly when file_sha256 is', BF, (d) => {
  rec(d, 0).file_name = 'w.safetensors';
});
kase('checkpoint-file-sha-alone', 'fail', '§3: file_sha256 without file_name', BF, (d) => {
  rec(d, 0).file_sha256 = 'ab'.repeat(32);
});
kase('checkpoint-file-name-slash', 'fail', '§3: file_name has no /', BF, (d) => {
  rec(d, 0).file_sha256 = 'ab'.repeat(32);
  rec(d, 0).file_name = 'a/b';
});
kase('checkpoint-file-name-dotdot', 'fail', '§3: file_name is not ..', BF, (d) => {
  rec(d, 0).file_sha256 = 'ab'.repeat(32);
  rec(d, 0).file_name = '..';
});
kase('confidence-rounds-to-1', 'verify', '§1/§3: 1.0000000000000001 is the double 1, in [0, 1]', BF, (d) => {
  rec(d, 3).confidence_score = new Num('1.0000000000000001', 1);
});
kase('confidence-above-1', 'fail', '§3: confidence_score in [0, 1]', BF, (d) => {
  rec(d, 3).confidence_score = N(1.5);
});
kase('metric-value-nan-string', 'verify', '§3: a metric may be "NaN"', BF, (d) => {
  rec(d, 0).metrics.loss = 'NaN';
});
kase('metric-value-other-string', 'fail', '§3: only the three strings', BF, (d) => {
  rec(d, 0).metrics.loss = 'nan';
});
kase('steps-empty', 'fail', '§3: steps is non-empty', LF, (d) => {
  rec(d, 1).steps = [];
  rec(d, 1).metrics = Object.create(null);
  delete rec(d, 1).epochs;
});
kase('steps-not-increasing', 'fail', '§3: steps strictly increase', LF, (d) => {
  rec(d, 1).steps = [N(1), N(1), N(3)];
});
kase('steps-metric-length', 'fail', '§3: one entry per step', LF, (d) => {
  rec(d, 1).metrics.loss = [N(1)];
});
kase('steps-epochs-length', 'fail', '§3: epochs one per step', LF, (d) => {
  rec(d, 1).epochs = [N(0)];
});
kase('steps-without-epochs', 'verify', '§3: epochs is optional', LF, (d) => {
  delete rec(d, 1).epochs;
});
kase('model-event-with-run-id', 'fail', '§3: a model event has no run_id', LF, (d) => {
  rec(d, 9).run_id = rec(d, 0).run_id;
});
kase('run-event-without-run-id', 'fail', '§3: a run event has a run_id', LF, (d) => {
  delete rec(d, 5).run_id;
});
kase('metric-logged-step-null-value-nan', 'verify', '§3: MetricLogged step may be null, value "NaN"', LF, (d) => {
  rec(d, 5).data.step = null;
  rec(d, 5).data.value = 'NaN';
});
kase('git-commit-64-hex', 'verify', '§3: commit is 40 or 64 hex', LF, (d) => {
  rec(d, 0).data.git.commit = 'ab'.repeat(32);
});
kase('git-commit-upper', 'fail', '§1: hex is lower case', LF, (d) => {
  rec(d, 0).data.git.commit = 'AB'.repeat(20);
});
kase('parent-with-path-and-reference', 'verify', '§3: a parent may have a path and a reference', LF, (d) => {
  const p = rec(d, 0).data.parents[0];
  p.path = 'data';
  p.kind = 'model';
  p.proof = tree({ model_id: 'base', tree_size: 3, root_hash: 'ab'.repeat(32), head_hash: 'cd'.repeat(32), key_id: 'ef'.repeat(32) });
  rehash(d);
});
kase('parent-unknown-kind', 'fail', '§3: parent kind', LF, (d) => {
  rec(d, 0).data.parents[0].kind = 'paper';
});

// ---------------------------------------------------------------- lineage (§8.8)
kase('config-hash-wrong', 'fail', '§8.8: config_hash is H(JCS(config))', LF, (d) => {
  rec(d, 0).data.config.lr = N(0.02);
});
kase('run-starts-twice', 'fail', '§8.8: each run starts once', LF, (d) => {
  const r = clone(rec(d, 0));
  r.seq = N(5);
  r.lamport = N(6);
  d.records.splice(5, 1, r);
});
kase('record-after-run-completed', 'fail', '§8.8: no record of a run follows its RunCompleted', LF, (d) => {
  const r = clone(rec(d, 5));
  d.records.splice(5, 1);
  d.records.splice(7, 0, r);
  d.records.forEach((x, i) => {
    x.seq = N(i);
    x.lamport = N(i + 1);
  });
});
kase('record-of-unstarted-run', 'fail', '§8.8: a record of a run that never started fails', LF, (d) => {
  rec(d, 2).run_id = 'run-other';
});
kase('lamport-not-increasing', 'fail', '§8.8: a node\'s stamps strictly increase', LF, (d) => {
  rec(d, 3).lamport = N(3);
});
kase('two-nodes-interleaved', 'verify', '§8.8: stamps increase per node', LF, (d) => {
  rec(d, 3).node_id = 'worker';
  rec(d, 3).lamport = N(1);
  rec(d, 5).node_id = 'worker';
  rec(d, 5).lamport = N(2);
});
kase('merged-from-earlier', 'verify', '§3/§8.8: merged_from names an earlier event of another node', LF, (d) => {
  rec(d, 3).node_id = 'worker';
  rec(d, 3).lamport = N(1);
  rec(d, 5).data.merged_from = tree({ node_id: 'worker', lamport: 1 });
});
kase('merged-from-later', 'fail', '§8.8: the merged event comes earlier in the log', LF, (d) => {
  rec(d, 6).node_id = 'worker';
  rec(d, 6).lamport = N(1);
  rec(d, 5).data.merged_from = tree({ node_id: 'worker', lamport: 1 });
});
kase('merged-from-not-below', 'fail', '§8.8: an event with merged_from has a stamp above the merged one', LF, (d) => {
  rec(d, 5).data.merged_from = tree({ node_id: 'other', lamport: 6 });
});
kase('merged-from-unstamped-record', 'fail', '§3: merged_from only on a record with node_id and lamport', LF, (d) => {
  delete rec(d, 5).node_id;
  delete rec(d, 5).lamport;
  rec(d, 5).data.merged_from = tree({ node_id: 'other', lamport: 1 });
});
kase('merged-from-absent-node', 'verify', '§8.8: the named event need not be in the proof', LF, (d) => {
  rec(d, 5).data.merged_from = tree({ node_id: 'other', lamport: 3 });
});
kase('decision-score-altered', 'fail', '§8.8: the decision is the gate\'s', LF, (d) => {
  rec(d, 8).data.decision.score = N(0.5);
});
kase('promoted-but-failed', 'fail', '§8.8: ModelPromoted exactly when the decision passed', LF, (d) => {
  rec(d, 8).event = 'PromotionRefused';
});
kase('gate-extra-key', 'fail', '§9: a gate with another key is malformed', LF, (d) => {
  rec(d, 8).data.gate.note = 'x';
});
kase('gate-weights-all-zero', 'fail', '§9: weights not all zero', LF, (d) => {
  for (const k of Object.keys(rec(d, 8).data.gate.weights)) rec(d, 8).data.gate.weights[k] = N(0);
});
kase('gate-min-score-without-weights', 'fail', '§9: min_score exactly when weights', LF, (d) => {
  delete rec(d, 8).data.gate.weights;
});
kase('gate-empty-operator-table', 'fail', '§9: a non-empty object of operator → number', LF, (d) => {
  rec(d, 8).data.gate.thresholds.b = Object.create(null);
});
kase('inputs-duplicated', 'fail', '§3: inputs are distinct', LF, (d) => {
  rec(d, 8).data.inputs.push(clone(rec(d, 8).data.inputs[0]));
});
kase('input-metrics-not-numeric-results', 'fail', '§8.8: input metrics equal the validation\'s numeric results', LF, (d) => {
  delete rec(d, 8).data.inputs[0].metrics.n;
});
kase('rollback-other-stage', 'fail', '§8.8: rollback to a model promoted to that stage', LF, (d) => {
  rec(d, 9).data.stage = 'production';
});
kase2('validation-nan-string-is-numeric', 'verify', '§3: "NaN" is a numeric result; the input carries it', LF, (d) => {
  validation(d).validation_result.z = 'NaN';
  repromote(d);
});
kase2('validation-bool-not-numeric', 'verify', '§3: booleans are not numeric results', LF, (d) => {
  validation(d).validation_result.flag = true;
  repromote(d);
});
kase2('checks-ordered-by-code-point', 'verify', '§9: checks ordered by Unicode code point, not UTF-16 unit (U+FF61 before U+1F600)', LF, (d) => {
  const v = validation(d);
  v.validation_result['\uff61'] = N(1);
  v.validation_result['\u{1F600}'] = N(2);
  repromote(d);
  const p = byEvent(d, 'ModelPromoted');
  p.data.gate.thresholds['\uff61'] = tree({ '>=': 0 });
  p.data.gate.thresholds['\u{1F600}'] = tree({ '>=': 0 });
});
kase2('missing-ordered-by-code-point', 'verify', '§9: missing sorted by code point', LF, (d) => {
  d.records.pop(); // the rollback: the promotion is refused now
  d.tree_heads[1].head.tree_size = N(9);
  repromote(d);
  const p = byEvent(d, 'ModelPromoted');
  p.data.gate.thresholds['\uff61'] = tree({ '>=': 0 });
  p.data.gate.thresholds['\u{1F600}'] = tree({ '>=': 0 });
});
kase2('gate-equality-minus-zero', 'verify', '§9: == on doubles: -0 == 0', LF, (d) => {
  validation(d).validation_result.m = new Num('-0.0', -0);
  repromote(d);
  byEvent(d, 'ModelPromoted').data.gate.thresholds.m = tree({ '==': 0 });
});

// ---------------------------------------------------------------- heads, anchors, summary (§5-§8)
kase('first-head-with-consistency', 'fail', '§8.5: the first head\'s consistency is empty', BF, () => {}, {
  heads: (d) => {
    d.tree_heads[0].consistency = [d.tree_heads[0].head.root_hash];
  },
});
kase('receipt-before-head', 'fail', '§8.7: a receipt\'s timestamp ≥ its head\'s', BF, (d) => {
  d.anchors[0].timestamp = '2026-11-22T12:00:19.000000Z';
});
kase('two-receipts-one-backend', 'fail', '§8.9: no head has two receipts from one backend', BF, (d) => {
  d.anchors.push(clone(d.anchors[2]));
});
kase('entries-share-index', 'fail', '§8.9: no two entries share an index with different content', BF, (d) => {
  d.anchors[1].details.entry.index = N(0);
});
kase('entry-index-0-with-prev', 'fail', '§6.1: an entry has a prev_entry exactly when its index is not 0', BF, (d) => {
  d.anchors[0].details.entry.prev_entry = 'ab'.repeat(32);
});
kase('entry-index-1-null-prev', 'fail', '§6.1: prev_entry null with index > 0', BF, (d) => {
  d.anchors[1].details.entry.prev_entry = null;
});
kase('anchor-receipts-zero-count', 'fail', '§7: a backend with no receipt is absent', BF, () => {}, {
  summary: (d) => {
    d.verification_metadata.anchor_receipts.ethereum = N(0);
  },
});
kase('proof-timestamp-two-days-ahead', 'fail', '§8.7: proof_timestamp at most one day after now', BF, (d) => {
  d.proof_timestamp = '2026-11-24T12:00:00.000000Z';
}, {}, { now: NOW });
kase('proof-timestamp-twelve-hours-ahead', 'verify', '§8.7: proof_timestamp at most one day after now', BF, (d) => {
  d.proof_timestamp = '2026-11-23T00:00:00.000000Z';
}, {}, { now: NOW });
kase('no-receipts', 'verify', '§7: a head may have none', BF, (d) => {
  d.anchors = [];
});
kase('only-latest-head-anchored-locally', 'verify', '§8/§10: heads before a locally anchored head are covered by it: local (report compared separately)', BF, (d) => {
  d.anchors = [d.anchors[2]];
});
kase('ethereum-on-first-head-only', 'verify', '§10: a later head not covered by a chain receipt', LF, (d) => {
  const e = d.anchors[2];
  e.head_hash = d.anchors[0].head_hash;
  e.timestamp = '2026-11-22T12:05:42.000000Z';
  e.details.block_time = N(1795349140);
  d.anchors = [d.anchors[0], d.anchors[1], e];
});
kase('ethereum-dev-chain', 'verify', '§6.2/§10: chain id 31337 is valid offline (dates nothing)', LF, (d) => {
  d.anchors[2].details.chain_id = N(31337);
});
kase('ethereum-chain-id-0', 'fail', '§6.2: chain_id from 1', LF, (d) => {
  d.anchors[2].details.chain_id = N(0);
});
kase('ethereum-block-time-1999', 'fail', '§6.2: block_time from 946684800', LF, (d) => {
  d.anchors[2].details.block_time = N(946684799);
});
kase('ethereum-contract-lower-case', 'fail', '§6.2: contract in EIP-55 case', LF, (d) => {
  d.anchors[2].details.contract = d.anchors[2].details.contract.toLowerCase();
});
kase('ethereum-tx-hash-upper-case', 'fail', '§1: hex is lower case', LF, (d) => {
  d.anchors[2].details.tx_hash = '0x' + 'A5'.repeat(32);
});
kase('ethereum-0X-prefix', 'fail', '§6.2: 0x prefix', LF, (d) => {
  d.anchors[2].details.block_hash = '0X' + 'b1'.repeat(32);
});
kase('ethereum-block-time-plus-15', 'verify', '§6.2: block_time ≤ receipt time (whole seconds) + 15', LF, (d) => {
  d.anchors[2].timestamp = '2026-11-22T12:05:30.999999Z';
});
kase('ethereum-block-time-plus-16', 'fail', '§6.2: block_time ≤ receipt time (whole seconds) + 15', LF, (d) => {
  d.anchors[2].timestamp = '2026-11-22T12:05:29.999999Z';
});
kase('record-at-allowance', 'verify', '§6.2/§8.9: a record at claimed time + 15 s (fraction dropped) is not too late', LF, (d) => {
  lateLineage(d, '2026-11-22T12:06:00.999999Z');
});
kase('record-past-allowance', 'fail', '§6.2/§8.9: a record later than claimed time + 15 s', LF, (d) => {
  lateLineage(d, '2026-11-22T12:06:01.000000Z');
});
kase('record-late-for-later-head-claim', 'fail', '§8.9: the earliest claim among the first covering head and every later head', LF, (d) => {
  // The ethereum receipt moves to head 2 with an early block time; record 0 (head 1) is after it.
  d.anchors[2].details.block_time = N(1795348800 - 100);
  rec(d, 0).timestamp = '2026-11-22T11:59:00.000000Z';
});
kase('head-prev-wrong', 'fail', '§8.4: prev_head is the previous head\'s hash', BF, () => {}, {
  head: (h, i) => {
    if (i === 1) h.prev_head = 'ab'.repeat(32);
  },
});
kase('head-size-not-increasing', 'fail', '§8.4: tree_size increases', BF, (d) => {
  d.tree_heads[1].head.tree_size = N(2);
});
kase('head-timestamp-equal', 'verify', '§8.7: head timestamps do not decrease (equal is fine)', BF, (d) => {
  d.tree_heads[1].head.timestamp = d.tree_heads[0].head.timestamp;
});
kase('record-at-head-time', 'verify', '§8.7: a record\'s timestamp ≤ its head\'s (equal is fine)', BF, (d) => {
  rec(d, 1).timestamp = d.tree_heads[0].head.timestamp;
});
kase('record-after-head-time', 'fail', '§8.7: a record\'s timestamp ≤ its head\'s', BF, (d) => {
  rec(d, 1).timestamp = '2026-11-22T12:00:20.000001Z';
});

// ---------------------------------------------------------------- trusted key (§2, §8.2)
kase('trusted-key-upper-case', 'verify', '§8: a trusted key given out of band may be written in either case, compared as 32 bytes', BF, () => {}, {}, {
  trustedKey: PK.toUpperCase(),
});
{
  const other = keyFromSeed('11'.repeat(32)).publicKey;
  kase('trusted-key-other', 'fail', '§8.2: public_key equals the trusted key', BF, () => {}, {}, { trustedKey: other });
}

// ---------------------------------------------------------------- more probes
{
  // Two inputs naming one validation with different metrics, in a partial proof that does
  // not disclose the validation (so §8.8's input check has nothing to compare): §3 says no
  // two inputs name the same validation_id.
  const doc = clone(LF);
  resign(doc, SEED);
  const p = rec(doc, 8);
  const second = clone(p.data.inputs[0]);
  second.metrics.a = N(0.5);
  p.data.inputs.push(second);
  fixPromotion(doc);
  resign(doc, SEED);
  emit('partial-inputs-same-validation-different-metrics', 'fail', '§3: no two inputs name the same validation_id', toPartial(doc, [8], SEED));
}
for (const kind of ['zero-nonce', 'S+L']) {
  const doc = clone(BF);
  resign(doc, SEED);
  doc.signature_hash = oddSignature(SEED, proofSigningInput(doc), kind);
  emit(`proof-signature-${kind}`, 'fail', `§2: a ${kind === 'S+L' ? 'non-canonical S (rule 2)' : 'R = identity signature (rule 3), valid by the cofactorless equation'}`, doc);
}
{
  // A tree-head signature with R = identity: the head hash is unchanged, so only rule 3 catches it.
  const doc = clone(BF);
  resign(doc, SEED);
  doc.tree_heads[0].signature = oddSignature(SEED, signingInput('pot.v1.tree-head', doc.tree_heads[0].head), 'zero-nonce');
  doc.signature_hash = keyFromSeed(SEED).sign(proofSigningInput(doc));
  emit('head-signature-zero-nonce', 'fail', '§2 rule 3 on a tree head signature', doc);
}
kase('free-form-control-characters', 'verify', '§3: free-form strings are not text; controls are JSON-escaped by JCS', BF, (d) => {
  rec(d, 3).validation_result.note = '\u0000\u001f\u007f\u0085\u2028\u{1F600}';
});
for (const [cp, spec, why] of [
  [0x2029, 'fail', 'U+2029 is in U+2028–U+202E'],
  [0x2030, 'verify', 'U+2030 follows the refused U+2028–U+202E'],
  [0x205f, 'verify', 'U+205F precedes the refused U+2060–U+206F'],
  [0x2066, 'fail', 'U+2066 (isolate) is refused'],
  [0x061c, 'fail', 'U+061C is refused'],
  [0x180e, 'fail', 'U+180E is refused'],
  [0x00ad, 'fail', 'U+00AD is refused'],
  [0x00a0, 'verify', 'U+00A0 is not in the list'],
  [0x0600, 'verify', 'U+0600 is format (Cf) but not in the fixed list'],
  [0x1d173, 'verify', 'U+1D173 is format (Cf) but not in the fixed list'],
  [0x034f, 'verify', 'U+034F (combining grapheme joiner) is not in the list'],
  [0xfff8, 'verify', 'U+FFF8 precedes the refused U+FFF9–U+FFFB'],
  [0xfffc, 'verify', 'U+FFFC follows the refused U+FFF9–U+FFFB'],
  [0xffff, 'verify', 'U+FFFF (noncharacter) is not in the list'],
  [0xe0001, 'fail', 'U+E0001 (tag) is refused'],
  [0xe0080, 'verify', 'U+E0080 follows the refused tags'],
  [0x009f, 'fail', 'U+009F is a C1 control'],
]) {
  const hexcp = cp.toString(16).toUpperCase().padStart(4, '0');
  kase(`name-U+${hexcp}`, spec, `§1 names: ${why}`, BF, (d) => {
    rec(d, 0).model_hash = `a${String.fromCodePoint(cp)}b`;
  });
}
kase('user-zero-width-space', 'fail', '§1: text refuses the same code points', LF, (d) => {
  rec(d, 0).data.user = 'al\u200bice';
});
kase('checkpoint-metrics-empty', 'verify', '§3: metrics is an object (may be empty)', BF, (d) => {
  rec(d, 0).metrics = Object.create(null);
});
kase('steps-metrics-empty', 'verify', '§3: a steps block with no metrics', LF, (d) => {
  rec(d, 1).metrics = Object.create(null);
});
kase('validation-result-empty', 'verify', '§3: validation_result may be empty', BF, (d) => {
  rec(d, 3).validation_result = Object.create(null);
});
kase('steps-100000', 'verify', '§3/§11: at most 100,000 steps', LF, (d) => {
  rec(d, 1).steps = Array.from({ length: 100000 }, (_, i) => N(i));
  rec(d, 1).metrics = Object.create(null);
  delete rec(d, 1).epochs;
});
kase('steps-100001', 'fail', '§3/§11: at most 100,000 steps', LF, (d) => {
  rec(d, 1).steps = Array.from({ length: 100001 }, (_, i) => N(i));
  rec(d, 1).metrics = Object.create(null);
  delete rec(d, 1).epochs;
});
kase('lamport-minus-zero', 'fail', '§3: lamport ≥ 1 (-0 is 0)', LF, (d) => {
  rec(d, 0).lamport = new Num('-0', 0);
});
kase('jcs-number-forms', 'verify', '§1 JCS: numbers in ECMAScript form (1e+21, 1e-7, 123456789012345680000, ...)', LF, (d) => {
  const c = rec(d, 0).data.config;
  const forms = ['1.0', '1e20', '1.5e20', '1e21', '1E21', '1e-6', '1e-7', '0.000001234', '1.7976931348623157e308',
    '2.2250738585072014e-308', '123456789.123', '-0.0', '0.1', '100', '1e2', '4.35', '9007199254740993.0', '0.30000000000000004'];
  forms.forEach((f, i) => {
    c[`n${i}`] = new Num(f, Number(f));
  });
  rec(d, 3).metrics = tree({ loss: 1e21, acc: 1e-7 });
  rehash(d);
});
kase('jcs-string-and-key-order', 'verify', '§1 JCS: keys sorted by UTF-16 units (U+1F600 before U+FF61), minimal escapes', LF, (d) => {
  const c = rec(d, 0).data.config;
  c['\uff61'] = 'half-width';
  c['\u{1F600}'] = 'emoji';
  c['\u00e9'] = 'e-acute';
  c.s = '\u0000\b\t\n\f\r\u001f"\\/\u007f\u00e9\u2028\u{1F600}';
  rehash(d);
});
kase('receipt-after-proof-timestamp', 'fail', '§8.7: a receipt\'s timestamp ≤ proof_timestamp', BF, (d) => {
  d.anchors[2].timestamp = '2026-11-22T12:01:00.000001Z';
});
kase('receipt-at-proof-timestamp', 'verify', '§8.7: a receipt\'s timestamp ≤ proof_timestamp (equal is fine)', BF, (d) => {
  d.anchors[2].timestamp = d.proof_timestamp;
});
kase('metadata-extra-key', 'fail', '§7: no other key in verification_metadata', BF, () => {}, {
  summary: (d) => {
    d.verification_metadata.event_records = N(0);
  },
});
kase('ethereum-chain-id-max', 'verify', '§6.2: chain_id up to 2^53−1; block_number 0', LF, (d) => {
  d.anchors[2].details.chain_id = N(9007199254740991);
  d.anchors[2].details.block_number = N(0);
});
kase2('promotion-inputs-empty-metrics', 'verify', '§3/§9: a validation without numeric results gives an input with {} metrics (gate fails, so refused)', LF, (d) => {
  d.records.pop();
  d.tree_heads[1].head.tree_size = N(9);
  validation(d).validation_result = tree({ passed: true });
  repromote(d);
});

// ---------------------------------------------------------------- probes of what §8 leaves unchecked
kase('receipts-out-of-order', 'verify', '§7: a verifier does not check the order of receipts', BF, (d) => {
  d.anchors.reverse();
});
kase('entry-timestamp-before-head', 'verify', '§6.1: entry timestamps are the signer\'s clock and are not compared with anything', BF, (d) => {
  d.anchors[0].details.entry.timestamp = '2001-01-01T00:00:00.000000Z';
});
kase('same-tx-hash-two-heads', 'verify', '§7: offline nothing relates one receipt to another but the local chain index rule', LF, (d) => {
  const e = clone(d.anchors[2]);
  e.head_hash = d.anchors[0].head_hash;
  e.timestamp = '2026-11-22T12:05:42.000000Z';
  e.details.block_time = N(1795349140);
  d.anchors.splice(1, 0, e);
});
kase('block-time-before-head-timestamp', 'verify', '§6.2/§8.9: only records are compared with the claimed time, not the head\'s own timestamp', LF, (d) => {
  d.anchors[2].details.block_time = N(1795349145 - 33); // 12:05:12; head 2 is signed at 12:05:21
});
kase('chain-claim-dates-covered-records-only', 'verify', '§8.9: a head-1 claim binds records of head 1 (and no later head\'s records)', LF, (d) => {
  const e = d.anchors[2];
  e.head_hash = d.anchors[0].head_hash;
  e.timestamp = '2026-11-22T12:05:42.000000Z';
  e.details.block_time = N(1795349105); // 12:05:05: records 0-4 (12:05:00-04) are in time
  d.anchors = [d.anchors[0], d.anchors[1], e];
  rec(d, 9).timestamp = '2026-11-22T12:05:30.000000Z'; // after 12:05:05 + 15, but covered by head 2 only
  d.tree_heads[1].head.timestamp = '2026-11-22T12:05:40.000000Z';
});
{
  // Full-proof-only checks (§8.8 "Full proofs also") do not apply to a partial proof.
  const mk = (name, spec, why, edit, positions) => {
    const full = clone(LF);
    const old = headHashes(full);
    edit(full);
    resign(full, SEED, {}, old);
    emit(name, spec, why, toPartial(full, positions, SEED));
  };
  mk('partial-config-hash-wrong', 'verify', '§8.8: config_hash is checked in full proofs only', (d) => {
    rec(d, 0).data.config_hash = 'ab'.repeat(32);
  }, [0]);
  mk('partial-rollback-never-promoted', 'verify', '§8.8: rollbacks are checked in full proofs only', (d) => {
    rec(d, 9).data.stage = 'production';
  }, [9]);
  mk('partial-record-after-run-completed', 'verify', '§8.8: run order is checked in full proofs only', (d) => {
    const r = clone(rec(d, 5));
    d.records.splice(5, 1);
    d.records.splice(7, 0, r);
    d.records.forEach((x, i) => {
      x.seq = N(i);
      x.lamport = N(i + 1);
    });
  }, [6, 7]);
  mk('partial-lamport-violation', 'fail', '§8.8: lamport order is checked in every proof', (d) => {
    rec(d, 3).lamport = N(3);
  }, [2, 3]);
  mk('partial-merged-from-later', 'fail', '§8.8: merged_from order is checked in every proof', (d) => {
    rec(d, 6).node_id = 'worker';
    rec(d, 6).lamport = N(1);
    rec(d, 5).data.merged_from = tree({ node_id: 'worker', lamport: 1 });
  }, [5, 6]);
  mk('partial-decision-wrong', 'fail', '§8.8: decisions are re-derived in every proof', (d) => {
    rec(d, 8).data.decision.score = N(0.5);
  }, [8]);
}
kase('consistency-extra-element', 'fail', 'RFC 9162 §2.1.4.2: a proof with an element left over fails', BF, () => {}, {
  heads: (d) => {
    d.tree_heads[2].consistency.push(d.tree_heads[0].head.root_hash);
  },
});
{
  const full = clone(BF);
  resign(full, SEED);
  const p = toPartial(full, [3], SEED, {
    records: (d) => {
      d.records[0].inclusion.push(d.records[0].inclusion[0]);
    },
  });
  emit('inclusion-extra-element', 'fail', 'RFC 9162 §2.1.3.2: a path with an element left over fails', p);
  const text = serialize(full);
  emit('upper-case-u-escape', 'verify', 'RFC 8259: \\u escapes may use upper-case hex', null, {
    text: text.replace('"digits-mlp"', '"digits\\u002Dmlp"'),
  });
  emit('raw-tab-in-string', 'fail', 'RFC 8259: a control character must be escaped in a string', null, {
    text: text.replace('"holdout-v1"', '"holdout\tv1"'),
  });
  emit('whitespace-cr-tab', 'verify', 'RFC 8259: CR and tab are whitespace', null, { text: text.replace(/\n/g, '\r\n\t') });
  emit('whitespace-form-feed', 'fail', 'RFC 8259: form feed is not whitespace', null, { text: text.replace('\n', '\f') });
  emit('whitespace-nbsp', 'fail', 'RFC 8259: U+00A0 is not whitespace', null, { text: text.replace('\n', '\u00a0') });
}
kase('raw-del-in-string', 'verify', 'RFC 8259: U+007F may appear unescaped (serialised raw here)', BF, (d) => {
  rec(d, 3).validation_result.note = 'a\u007fb';
});
kase('ethereum-on-both-heads', 'verify', '§8.9: chain receipts on two heads; the earliest claim governs each record', LF, (d) => {
  const e = clone(d.anchors[2]);
  e.head_hash = d.anchors[0].head_hash;
  e.timestamp = '2026-11-22T12:05:42.000000Z';
  e.details.block_time = N(1795349140);
  e.details.tx_hash = '0x' + '6b'.repeat(32);
  d.anchors.splice(1, 0, e);
});

// ---------------------------------------------------------------- gate fuzz: many promotions, exact scores
{
  let state = 0x2545f491;
  const rand = () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 2 ** 32;
  };
  const nextUp = (x) => {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, x);
    const u = b.getBigUint64(0);
    b.setBigUint64(0, x >= 0 ? u + 1n : u - 1n);
    return b.getFloat64(0);
  };
  // Doubles of 2^53 and more are written in exponent form here: their JCS (integer) spelling
  // is probed by the cases after this block.
  const Nx = (x) => new Num(Number.isInteger(x) && Math.abs(x) > 2 ** 53 ? x.toExponential() : String(x), x);
  const value = () => {
    const r = rand();
    if (r < 0.04) return ['NaN', 'Infinity', '-Infinity'][Math.floor(rand() * 3)];
    if (r < 0.08) return N(Math.floor(rand() * 1000));
    if (r < 0.12) return N(-rand());
    if (r < 0.14) return N(rand() * 1e-310);
    if (r < 0.3) return Nx(rand() * 10 ** Math.floor(rand() * 60 - 30));
    return N(Math.round(rand() * 1000) / 1000);
  };
  const names = ['acc', 'loss', 'f1', 'auc', '\u00e9', '\u{1F600}', '\uff61', 'Z'];
  for (let c = 0; c < 8; c++) {
    const doc = clone(LF);
    const old = headHashes(doc);
    const base = doc.records.length;
    const K = 12;
    const mh = validation(doc).model_hash;
    const proto = validation(doc);
    for (let i = 0; i < K; i++) {
      const v = clone(proto);
      v.validation_result = Object.create(null);
      for (const nm of names) if (rand() < 0.8) v.validation_result[nm] = value();
      v.validation_result.note = 'text';
      delete v.run_id;
      doc.records.push(v);
    }
    const promo = clone(rec(doc, 8));
    for (let i = 0; i < K; i++) {
      const p = clone(promo);
      p.data.model_hash = mh;
      p.data.stage = `stage-${i}`;
      const gate = Object.create(null);
      const kind = rand();
      if (kind < 0.7) {
        const w = Object.create(null);
        for (const nm of names) if (rand() < 0.5) w[nm] = N(rand() < 0.15 ? 0 : Math.round(rand() * 1e6) / 1e3);
        if (!Object.keys(w).length || Object.values(w).every((x) => x.value === 0)) w.acc = N(1.5);
        gate.weights = w;
        gate.min_score = N(0); // replaced once the score is known
      }
      if (kind >= 0.4) {
        const t = Object.create(null);
        for (const nm of names) {
          if (rand() < 0.4) {
            const ops = Object.create(null);
            for (const op of ['<', '<=', '==', '>', '>=']) {
              if (rand() < 0.4) {
                // Mostly lenient thresholds, so that some gates pass; '==' at a common value.
                const lenient = rand() < 0.8;
                const t = op === '==' ? 0.5 : op.startsWith('<') ? (lenient ? 1e30 : 0.5) : lenient ? -1e30 : 0.5;
                ops[op] = N(t);
              }
            }
            if (Object.keys(ops).length) t[nm] = ops;
          }
        }
        if (!Object.keys(t).length) t.acc = tree({ '>=': 0 });
        gate.thresholds = t;
      }
      p.data.gate = gate;
      // Inputs: one or two of the new validations (a later one overrides), by position for now.
      const a = base + Math.floor(rand() * K);
      const b = base + Math.floor(rand() * K);
      p.data.inputs = (a === b ? [a] : [a, b]).map((pos) => Object.assign(Object.create(null), { validation_id: pos, metrics: null }));
      doc.records.push(p);
    }
    doc.records.forEach((r, i) => {
      r.seq = N(i);
      r.lamport = N(i + 1);
    });
    doc.tree_heads[1].head.tree_size = N(doc.records.length);
    const settle = (d) => {
      for (const p of d.records.filter((r) => r.type === 'event' && r.data && Array.isArray(r.data.inputs) && r.seq.value > 9)) {
        for (const inp of p.data.inputs) {
          const pos = typeof inp.validation_id === 'number' ? inp.validation_id : inp.__pos;
          inp.__pos = pos;
          const v = d.records[pos];
          const m = Object.create(null);
          for (const k of Object.keys(v.validation_result)) {
            const x = v.validation_result[k];
            if (x instanceof Num || x === 'NaN' || x === 'Infinity' || x === '-Infinity') m[k] = x;
          }
          inp.metrics = m;
          inp.validation_id = v.id || 'ab'.repeat(32);
        }
        const clean = p.data.inputs.map((i) => ({ validation_id: i.validation_id, metrics: i.metrics }));
        if (p.data.gate.weights) {
          const wg = Object.assign(Object.create(null), { weights: p.data.gate.weights, min_score: p.data.gate.min_score });
          const score = decide(wg, combine(clean)).score;
          if (score !== null) {
            // min_score: exactly the score (passes only with exact rounding), or just above it.
            p.data.gate.min_score = N(Number(p.data.stage.split('-')[1]) % 2 === 0 ? score : nextUp(score));
          }
        }
        const d2 = decide(p.data.gate, combine(clean));
        p.data.decision = tree(JSON.parse(JSON.stringify(d2, (k, x) => (x instanceof Num ? x.value : x))));
        p.event = d2.passed ? 'ModelPromoted' : 'PromotionRefused';
      }
    };
    const strip = (d) => {
      for (const r of d.records) {
        if (r.type === 'event' && r.data && Array.isArray(r.data.inputs)) for (const i of r.data.inputs) delete i.__pos;
      }
    };
    settle(doc);
    const keep = doc.records.map((r) => (r.data && Array.isArray(r.data.inputs) ? r.data.inputs.map((i) => i.__pos) : null));
    strip(doc);
    resign(doc, SEED, {}, old);
    doc.records.forEach((r, i) => {
      if (keep[i]) r.data.inputs.forEach((inp, j) => { inp.__pos = keep[i][j]; });
    });
    settle(doc);
    strip(doc);
    resign(doc, SEED);
    emit(`gate-fuzz-${c}`, 'verify', '§9: random gates (weights, thresholds, special values, two inputs), min_score at the exact score or the next double', doc);
  }
}

// ---------------------------------------------------------------- JCS spellings of large doubles
// ECMAScript (so JCS) writes every double from 2^53 up to 1e21 as digits without an
// exponent: 1e20 is "100000000000000000000". Such a number in a field that is not an
// integer field is a double like any other (§1).
kase('metric-double-in-integer-spelling', 'fail', '§1: a metric 3.776160457637161e20 written as JCS writes it (377616045763716100000): an integer spelling beyond 2^53−1', BF, (d) => {
  rec(d, 0).metrics.loss = new Num('377616045763716100000', 377616045763716100000);
});
kase('free-form-1e20-in-integer-spelling', 'fail', '§1: 1e20 is written 1e+20, not 100000000000000000000 (validation_result)', BF, (d) => {
  rec(d, 3).validation_result.big = new Num('100000000000000000000', 1e20);
});
{
  const doc = clone(LF);
  resign(doc, SEED);
  emit('proof-written-as-jcs', 'verify', '§1: a proof written in its own canonical form (JCS of the whole document)', null, { text: jcs(doc) });
  const big = clone(BF);
  rec(big, 3).validation_result.big = new Num('1e+20', 1e20);
  resign(big, SEED);
  emit('proof-with-1e20-as-written', 'verify', '§1: validation_result 1e20 written 1e+20', big);
  emit('proof-with-1e20-written-as-jcs', 'fail', '§1: the same proof written as JCS spells 1e20 as an integer beyond 2^53−1', null, { text: jcs(big) });
}

// ---------------------------------------------------------------- signer keys that are not valid (§2)
for (const [name, pk] of [
  ['signer-key-torsion-component', 'ea5ef8400c31ef41e28f22e718b43f66981b29cf645af2a0e223799bedaace47'],
  ['signer-key-off-curve', '0200000000000000000000000000000000000000000000000000000000000000'],
  ['signer-key-y-above-p', 'efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'],
  ['signer-key-identity', '0100000000000000000000000000000000000000000000000000000000000000'],
]) {
  const doc = clone(BF);
  resign(doc, SEED);
  doc.signer.public_key = pk;
  doc.signer.key_id = sha256(Buffer.from(pk, 'hex')).toString('hex');
  emit(name, 'fail', '§2: signer.public_key must be a valid key (rules 1-5)', doc, { trustedKey: null });
}

// ---------------------------------------------------------------- last probes
kase('merged-from-own-node', 'verify', '§3: merged_from is the stamp of a record "of any kind, usually another node\'s"', LF, (d) => {
  rec(d, 5).data.merged_from = tree({ node_id: 'main', lamport: 3 });
});
{
  const doc = clone(BF);
  rec(doc, 0).model_hash = 'm\u{1F600}';
  resign(doc, SEED);
  emit('surrogate-pair-escaped', 'verify', 'RFC 8259: a code point above U+FFFF written as an escaped surrogate pair', null, {
    text: serialize(doc).replace('"m\u{1F600}"', '"m\\ud83d\\ude00"'),
  });
}

// ================================================================ rules the revised spec adds
// ---------------------------------------------------------------- integer spellings (§1)
// "A number written as an integer ... MUST be within ±(2^53−1), wherever it appears."
for (const [name, spec, text, value] of [
  ['max-safe', 'verify', '9007199254740991', 9007199254740991],
  ['min-safe', 'verify', '-9007199254740991', -9007199254740991],
  ['above-max-safe', 'fail', '9007199254740992', 9007199254740992],
  ['below-min-safe', 'fail', '-9007199254740992', -9007199254740992],
  ['2p53-with-fraction', 'verify', '9007199254740992.0', 9007199254740992],
  ['2p53-with-exponent', 'verify', '9.007199254740992e15', 9007199254740992],
  ['1e20-with-exponent', 'verify', '1e+20', 1e20],
  ['1e20-upper-E', 'verify', '1E20', 1e20],
  ['minus-zero', 'verify', '-0', 0],
]) {
  kase(`free-form-integer-${name}`, spec, `§1: a number written as an integer is within ±(2^53−1) wherever it appears (${text} in a RunStarted config)`, LF, (d) => {
    rec(d, 0).data.config.n = new Num(text, value);
    rehash(d);
  });
}
kase('free-form-big-integer-nested', 'fail', '§1: wherever it appears: deep in validation_result', BF, (d) => {
  rec(d, 3).validation_result.deep = [[tree({ x: [N(1), new Num('9007199254740993', 9007199254740992)] })]];
});
kase('free-form-integer-max-safe-nested', 'verify', '§1: 2^53−1 deep in validation_result', BF, (d) => {
  rec(d, 3).validation_result.deep = [[tree({ x: [N(1), new Num('-9007199254740991', -9007199254740991)] })]];
});
kase('metric-integer-above-max-safe', 'fail', '§1: a checkpoint metric spelled 9007199254740992', BF, (d) => {
  rec(d, 0).metrics.loss = new Num('9007199254740992', 9007199254740992);
});
kase('metric-integer-max-safe', 'verify', '§1: a checkpoint metric spelled 9007199254740991', BF, (d) => {
  rec(d, 0).metrics.loss = new Num('9007199254740991', 9007199254740991);
});
kase('steps-metric-integer-above-max-safe', 'fail', '§1: a steps metric entry spelled 18014398509481984', LF, (d) => {
  rec(d, 1).metrics.loss[0] = new Num('18014398509481984', 18014398509481984);
});
kase('steps-metric-2p54-with-exponent', 'verify', '§1: the same value written 1.8014398509481984e16', LF, (d) => {
  rec(d, 1).metrics.loss[0] = new Num('1.8014398509481984e16', 18014398509481984);
});
kase('confidence-integer-spelled', 'verify', '§3: confidence_score is a number: 1 and 0 may be written as integers', BF, (d) => {
  rec(d, 3).confidence_score = N(1);
});
for (const [name, spec, text] of [['1e16-as-integer', 'fail', '10000000000000000'], ['1e16-with-exponent', 'verify', '1e16']]) {
  kase2(`gate-threshold-${name}`, spec, `§1: a gate threshold ${text} (the decision records it as 1e+16)`, LF, () => {}, (d) => {
    const p = byEvent(d, 'ModelPromoted');
    p.data.gate.thresholds.a['<='] = new Num(text, 1e16);
    p.data.decision.gate = sha256(jcsBytes(p.data.gate)).toString('hex');
    for (const c of p.data.decision.checks) if (c.op === '<=') c.threshold = N(1e16);
  });
}
kase('integer-field-2p53-with-exponent', 'fail', '§1: an integer field is written as an integer even where the value is exact (rank 9.007199254740991e15)', BF, (d) => {
  rec(d, 0).rank = new Num('9.007199254740991e15', 9007199254740991);
});

// ---------------------------------------------------------------- byte order mark, surrogates (§1)
{
  const doc = clone(BF);
  rec(doc, 3).validation_result.note = 'aXb';
  rec(doc, 3).validation_result.kX = 'v';
  resign(doc, SEED);
  const text = serialize(doc);
  const sub = (a, b) => {
    if (!text.includes(a)) throw new Error(`no ${a}`);
    return text.replace(a, b);
  };
  emit('bom-after-whitespace', 'fail', '§1/RFC 8259: a U+FEFF after whitespace is neither a BOM nor whitespace', null, { text: ` \ufeff${text}` });
  emit('bom-twice', 'fail', '§1: without a byte order mark', null, { text: `\ufeff\ufeff${text}` });
  emit('utf16le-with-bom', 'fail', '§1: UTF-8 only', null, { bytes: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]) });
  emit('lone-low-surrogate', 'fail', '§1: a string holding a lone surrogate (\\udc00)', null, { text: sub('"aXb"', '"a\\udc00b"') });
  emit('lone-high-surrogate-at-end', 'fail', '§1: a string ending in a lone high surrogate', null, { text: sub('"aXb"', '"ab\\ud83d"') });
  emit('surrogates-reversed', 'fail', '§1: a low then a high surrogate is two lone surrogates', null, { text: sub('"aXb"', '"a\\ude00\\ud83db"') });
  emit('high-surrogate-then-escaped-letter', 'fail', '§1: \\ud83d followed by \\u0041', null, { text: sub('"aXb"', '"a\\ud83d\\u0041b"') });
  emit('lone-surrogate-in-free-form-key', 'fail', '§1: a lone surrogate in an object key (free-form keys are not names, but any string counts)', null, { text: sub('"kX"', '"k\\ud800"') });
  emit('surrogate-bytes-in-utf8', 'fail', '§1: a surrogate encoded in the raw bytes (ED A0 80) is not UTF-8', null, {
    bytes: Buffer.concat([Buffer.from(text.slice(0, text.indexOf('"aXb"') + 2)), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(text.slice(text.indexOf('"aXb"') + 3))]),
  });
}
{
  const doc = clone(BF);
  rec(doc, 0).model_hash = 'm\u{1F600}';
  resign(doc, SEED);
  emit('surrogate-pair-escaped-upper-hex', 'verify', 'RFC 8259: an escaped surrogate pair in upper-case hex is one code point', null, {
    text: serialize(doc).replace('"m\u{1F600}"', '"m\\uD83D\\uDE00"'),
  });
}
kase('bom-inside-free-form-string', 'verify', '§1: a U+FEFF inside a free-form string is a character, not a byte order mark', BF, (d) => {
  rec(d, 3).validation_result.note = '\ufeffx';
});
kase('name-U+FEFF', 'fail', '§1 names: U+FEFF is refused', BF, (d) => {
  rec(d, 0).model_hash = 'a\ufeffb';
});

// ---------------------------------------------------------------- promotion inputs (§3)
kase2('inputs-two-validations', 'verify', '§3: two inputs naming two validations (the later one wins for a shared name)', LF, (d) => {
  const v2 = clone(validation(d));
  v2.validation_result = tree({ a: 0.5, n: 7 });
  v2.seq = N(5);
  d.records.splice(5, 0, v2);
  d.records.forEach((x, i) => {
    x.seq = N(i);
    x.lamport = N(i + 1);
  });
  d.tree_heads[1].head.tree_size = N(11);
}, (d) => {
  const p = byEvent(d, 'ModelPromoted') || byEvent(d, 'PromotionRefused');
  const v2 = d.records[5];
  p.data.inputs.push(Object.assign(Object.create(null), { validation_id: v2.id, metrics: tree({ a: 0.5, n: 7 }) }));
  fixPromotion(d);
  // The rollback needs the staging promotion: keep it only when the gate still passes.
  if (p.event !== 'ModelPromoted') throw new Error('inputs-two-validations: the gate should pass');
});
// §8.8, every proof: an input that names a record the proof discloses names a validation
// record earlier in the log, of the promoted model_hash, whose numeric results equal the
// input's metrics (JCS). Full proofs: every input names a record of the proof. In
// lineage-full the validation is record 4 and the promotion record 8.
{
  // derive(edit, after): lineage-full edited, re-signed, its promotion pointed at the
  // validation (inputs whose validation_id is null) and re-decided, re-signed again.
  const derive = (edit, after = () => {}) => {
    const doc = clone(LF);
    const old = headHashes(doc);
    edit(doc);
    resign(doc, SEED, {}, old);
    fixPromotion(doc);
    after(doc);
    resign(doc, SEED);
    return doc;
  };
  // Each variant as a full proof, a partial proof disclosing the promotion and the record
  // its input names (`both`), and one disclosing the promotion alone (`alone`: nothing
  // shows what the input names, so it verifies).
  const variants = (name, full, both, why, d, positions) => {
    if (full) emit(name, full, `§8.8 (full proof): ${why}`, d);
    emit(`partial-${name}`, both, `§8.8 (partial proof disclosing both): ${why}`, toPartial(d, positions, SEED));
    emit(`partial-${name}-undisclosed`, 'verify', `§8.8: ${why}; the partial proof discloses the promotion only, so nothing shows what its input names`, toPartial(d, [positions.find((x) => rec(d, x).type === 'event')], SEED));
  };
  const lf = derive(() => {});
  emit('partial-input-names-disclosed-validation', 'verify', '§8.8: a partial proof disclosing the promotion and the earlier validation its input names, of the promoted model_hash, metrics = numeric results', toPartial(lf, [4, 8], SEED));
  emit('partial-input-names-disclosed-validation-and-rollback', 'verify', '§8.8: the same with the rollback disclosed (the rollback rule is for full proofs)', toPartial(lf, [4, 8, 9], SEED));
  // The input names checkpoint 3 (earlier, of the same model_hash cd..): not a validation.
  const ck = derive((d) => { rec(d, 8).data.inputs[0].validation_id = null; }, (d) => { rec(d, 8).data.inputs[0].validation_id = rec(d, 3).id; });
  variants('input-names-a-checkpoint', 'fail', 'fail', 'the input names a checkpoint, not a validation', ck, [3, 8]);
  // The input names an id no record has.
  const unknown = derive(() => {}, (d) => { rec(d, 8).data.inputs[0].validation_id = 'ab'.repeat(32); });
  emit('input-names-unknown-id', 'fail', '§8.8 (full proof): every promotion input names a record of the proof', unknown);
  emit('partial-input-names-unknown-id', 'verify', '§8.8: an input naming no disclosed record is not checked in a partial proof (in a full proof it fails)', toPartial(unknown, [8], SEED));
  // The promotion (and the rollback, so that only the input rule fails) of another model_hash.
  const other = derive((d) => {
    rec(d, 8).data.model_hash = 'ef'.repeat(32);
    rec(d, 9).data.to_model_hash = 'ef'.repeat(32);
    rec(d, 9).data.from_model_hash = 'ef'.repeat(32);
  });
  variants('input-validates-another-model-hash', 'fail', 'fail', 'the validation the input names is of cd.., the promotion of ef..', other, [4, 8]);
  // The validation holds a numeric result the input's metrics lack.
  const extra = derive((d) => {
    validation(d).validation_result.extra = N(1);
    rec(d, 8).data.inputs[0].validation_id = null;
  });
  variants('input-metrics-lack-a-numeric-result', 'fail', 'fail', 'the validation has a numeric result "extra" the input\'s metrics lack', extra, [4, 8]);
  // The same values spelled otherwise in the validation: JCS, hence the id, unchanged.
  const spelled = derive((d) => { validation(d).validation_result.a = new Num('7.2e-2', 0.072); });
  variants('input-metrics-spelled-otherwise', 'verify', 'verify', 'the validation spells a as 7.2e-2, the input as 0.072: JCS equal', spelled, [4, 8]);
  // The validation moved after the promotion (its run_id dropped, so that it does not follow
  // RunCompleted): records 0-3, 5-8 (the promotion at 7), the validation at 8, the rollback.
  const later = derive((d) => {
    const [v] = d.records.splice(4, 1);
    delete v.run_id;
    d.records.splice(8, 0, v);
    d.records.forEach((x, i) => {
      x.seq = N(i);
      x.lamport = N(i + 1);
    });
    rec(d, 7).data.inputs[0].validation_id = null;
  });
  if (rec(later, 7).event !== 'ModelPromoted' || rec(later, 8).type !== 'validation') throw new Error('input-names-a-later-validation: layout');
  variants('input-names-a-later-validation', 'fail', 'fail', 'the input names a validation that comes after the promotion', later, [7, 8]);
}

// ---------------------------------------------------------------- checkpoint file (§3)
kase('checkpoint-file-name-and-sha', 'verify', '§3: file_name with file_sha256', BF, (d) => {
  rec(d, 0).file_sha256 = 'ab'.repeat(32);
  rec(d, 0).file_name = 'w.safetensors';
});
kase('checkpoint-file-name-null', 'fail', '§3: optional fields are absent, never null (file_sha256 present)', BF, (d) => {
  rec(d, 0).file_sha256 = 'ab'.repeat(32);
  rec(d, 0).file_name = null;
});

// ---------------------------------------------------------------- local chain entries (§6.1)
kase('entry-index-0-null-prev', 'verify', '§6.1: index 0 with prev_entry null', BF, (d) => {
  d.anchors = [d.anchors[0]];
});
kase('entry-index-7-with-prev', 'verify', '§6.1: an entry of index 7 with a prev_entry; entries in a proof need not be consecutive', BF, (d) => {
  d.anchors[2].details.entry.index = N(7);
});
kase('entry-index-1-prev-upper-case', 'fail', '§1/§6.1: prev_entry is 64 lower-case hex', BF, (d) => {
  d.anchors[1].details.entry.prev_entry = d.anchors[1].details.entry.prev_entry.toUpperCase();
});
kase('entry-tree-size-0', 'fail', '§6.1: an entry\'s tree_size is at least 1', BF, () => {}, {
  entry: (e, r) => {
    if (e.index.value === 0) e.tree_size = N(0);
    void r;
  },
});
kase('entry-timestamp-far-future', 'verify', '§6.1: entry timestamps are not compared with anything (not with now either: §8.7 and §8.9 bound proof_timestamp and claimed times only)', BF, (d) => {
  d.anchors[0].details.entry.timestamp = '2030-01-01T00:00:00.000000Z';
}, {}, { now: NOW });

// ---------------------------------------------------------------- coverage by local receipts (§8, §10)
kase('middle-head-anchored-locally', 'verify', '§8/§10: heads 1-2 local (covered by head 2\'s receipt), head 3 none', BF, (d) => {
  d.anchors = [d.anchors[1]];
});
kase('first-head-anchored-locally', 'verify', '§8/§10: head 1 local, later heads none', BF, (d) => {
  d.anchors = [d.anchors[0]];
});
kase('chain-on-first-local-on-last', 'verify', '§10: head 1 chain-unchecked (its own chain receipt), head 2 local', LF, (d) => {
  const e = d.anchors[2];
  e.head_hash = d.anchors[0].head_hash;
  e.timestamp = '2026-11-22T12:05:42.000000Z';
  e.details.block_time = N(1795349140);
  d.anchors = [e, d.anchors[1]];
});

// ---------------------------------------------------------------- trusted key (§8)
kase('trusted-key-mixed-case', 'verify', '§8: "may be written in either case", compared as bytes (read as: each digit in either case)', BF, () => {}, {}, {
  trustedKey: PK.slice(0, 32).toUpperCase() + PK.slice(32),
});
{
  const other = keyFromSeed('11'.repeat(32)).publicKey.toUpperCase();
  kase('trusted-key-other-upper-case', 'fail', '§8.2: another key, in upper case', BF, () => {}, {}, { trustedKey: other });
}

// ---------------------------------------------------------------- the verifier's clock (§8.7, §8.9)
kase('proof-timestamp-at-one-day', 'verify', '§8.7: proof_timestamp exactly one day after now', BF, (d) => {
  d.proof_timestamp = '2026-11-23T12:00:00.000000Z';
}, {}, { now: NOW });
kase('proof-timestamp-past-one-day', 'fail', '§8.7: proof_timestamp one microsecond more than a day after now', BF, (d) => {
  d.proof_timestamp = '2026-11-23T12:00:00.000001Z';
}, {}, { now: NOW });
kase('proof-timestamp-at-one-day-fractional-now', 'verify', '§8.7: one day after a now with a fraction', BF, (d) => {
  d.proof_timestamp = '2026-11-23T12:00:00.500000Z';
}, {}, { now: '2026-11-22T12:00:00.500000Z' });
kase('proof-timestamp-past-one-day-fractional-now', 'fail', '§8.7: one microsecond past a day after a now with a fraction', BF, (d) => {
  d.proof_timestamp = '2026-11-23T12:00:00.500001Z';
}, {}, { now: '2026-11-22T12:00:00.500000Z' });
kase('proof-timestamp-at-the-whole-second-of-fractional-now', 'verify', '§8.7: one day after the whole second of a now with a fraction (half a second less than a day after now)', BF, (d) => {
  d.proof_timestamp = '2026-11-23T12:00:00.000000Z';
}, {}, { now: '2026-11-22T12:00:00.500000Z' });
// From about 2255 on, microseconds since 1970 exceed 2^53: a double cannot tell the next one.
kase('proof-timestamp-at-one-day-in-2300', 'verify', '§8.7: exactly one day after now, in 2300 (microseconds beyond 2^53)', BF, (d) => {
  d.proof_timestamp = '2300-01-02T12:00:00.000000Z';
}, {}, { now: '2300-01-01T12:00:00.000000Z' });
kase('proof-timestamp-past-one-day-in-2300', 'fail', '§8.7: one microsecond more than a day after now, in 2300 (microseconds beyond 2^53)', BF, (d) => {
  d.proof_timestamp = '2300-01-02T12:00:00.000001Z';
}, {}, { now: '2300-01-01T12:00:00.000000Z' });
kase('proof-timestamp-before-now', 'verify', '§8.7: a proof made long before now', BF, () => {}, {}, { now: '2040-01-01T00:00:00.000000Z' });
kase('proof-before-the-corpus-clock', 'fail', '§8.7: basic-full as of two days before it was made', BF, () => {}, {}, { now: '2026-11-20T12:00:00.000000Z' });
// Claimed times: LF's ethereum receipt (head 2). The proof and receipt are moved to one day
// after now so that only the claimed time can exceed it (block_time ≤ receipt time + 15).
const futureClaim = (bt) => (d) => {
  d.proof_timestamp = '2026-11-23T12:00:00.000000Z';
  d.anchors[2].timestamp = '2026-11-23T12:00:00.000000Z';
  d.anchors[2].details.block_time = N(bt);
};
const T = Date.UTC(2026, 10, 22, 12, 0, 0) / 1000;
kase('claimed-time-at-one-day', 'verify', '§8.9: a claimed time exactly one day after now', LF, futureClaim(T + 86400), {}, { now: NOW });
kase('claimed-time-past-one-day', 'fail', '§8.9: a claimed time one second more than a day after now (within the receipt\'s +15 s)', LF, futureClaim(T + 86401), {}, { now: NOW });
kase('claimed-time-at-one-day-fractional-now', 'verify', '§8.9: block_time T+86400 against now T+0.5 s: not more than a day after', LF, futureClaim(T + 86400), {}, { now: '2026-11-22T12:00:00.500000Z' });
kase('claimed-time-past-one-day-fractional-now', 'fail', '§8.9: block_time T+86401 against now T+0.999999 s', LF, futureClaim(T + 86401), {}, { now: '2026-11-22T12:00:00.999999Z' });
kase('claimed-time-one-day-no-fraction-drop', 'fail', '§8.9: block_time T+86401 against now T+0.5 s is 0.5 s more than a day after (the fraction of now is not dropped)', LF, futureClaim(T + 86401), {}, { now: '2026-11-22T12:00:00.500000Z' });

// ---------------------------------------------------------------- the clock at the end of the timestamp range
// §1 timestamps run to 9999-12-31T23:59:59.999999Z; §8's "one day after now" may pass it.
kase('now-on-the-last-day-of-9999', 'verify', '§8.7/§8.9: a 2026 proof verified as of 9999-12-31 (now + one day is past the last timestamp a document can spell)', BF, () => {}, {}, {
  now: '9999-12-31T00:00:00.000000Z',
});
kase('now-the-day-before-the-last-of-9999', 'verify', '§8.7: a 2026 proof verified as of 9999-12-30T23:59:59.999999Z', BF, () => {}, {}, {
  now: '9999-12-30T23:59:59.999999Z',
});
{
  const to9999 = (d) => {
    const shift = (s) => s.replace('2026-11-22T', '9999-12-31T');
    for (const r of d.records) r.timestamp = shift(r.timestamp);
    for (const th of d.tree_heads) th.head.timestamp = shift(th.head.timestamp);
    for (const a of d.anchors) {
      a.timestamp = shift(a.timestamp);
      if (a.backend === 'localchain') a.details.entry.timestamp = shift(a.details.entry.timestamp);
    }
    d.proof_timestamp = shift(d.proof_timestamp);
  };
  kase('proof-made-in-9999', 'verify', '§1: every timestamp on 9999-12-31, verified as of its end', BF, to9999, {}, { now: '9999-12-31T23:59:59.999999Z' });
}
// The proof dated in the last second of the range, a day after now and just past it.
kase('proof-dated-the-last-second-at-one-day', 'verify', '§8.7: proof_timestamp 9999-12-31T23:59:59.000000Z, exactly one day after now', BF, (d) => {
  d.proof_timestamp = '9999-12-31T23:59:59.000000Z';
}, {}, { now: '9999-12-30T23:59:59.000000Z' });
kase('proof-dated-the-last-second-past-one-day', 'fail', '§8.7: proof_timestamp 9999-12-31T23:59:59.000001Z, one microsecond more than a day after now', BF, (d) => {
  d.proof_timestamp = '9999-12-31T23:59:59.000001Z';
}, {}, { now: '9999-12-30T23:59:59.000000Z' });
kase('proof-dated-the-last-moment-a-second-past-one-day', 'fail', '§8.7: proof_timestamp 9999-12-31T23:59:59.999999Z, one second more than a day after now', BF, (d) => {
  d.proof_timestamp = '9999-12-31T23:59:59.999999Z';
}, {}, { now: '9999-12-30T23:59:58.999999Z' });
kase('proof-dated-the-last-moment-at-one-day', 'verify', '§8.7: proof_timestamp 9999-12-31T23:59:59.999999Z, exactly one day after now', BF, (d) => {
  d.proof_timestamp = '9999-12-31T23:59:59.999999Z';
}, {}, { now: '9999-12-30T23:59:59.999999Z' });

// ---------------------------------------------------------------- merged_from (§3)
kase('merged-from-a-checkpoint', 'verify', '§3: merged_from names a record of any kind (an earlier checkpoint of another node)', LF, (d) => {
  rec(d, 3).node_id = 'worker';
  rec(d, 3).lamport = N(1);
  rec(d, 5).data.merged_from = tree({ node_id: 'worker', lamport: 1 });
});
kase('merged-from-a-steps-record', 'verify', '§3: merged_from names a steps record of another node', LF, (d) => {
  rec(d, 1).node_id = 'worker';
  rec(d, 1).lamport = N(1);
  rec(d, 5).data.merged_from = tree({ node_id: 'worker', lamport: 1 });
});

// ---------------------------------------------------------------- the local chain file (§6.1, §8 further checks)
// basic-full's three localchain receipts on lines 1, 3 and 4 of a store's file that also
// anchors another model (lines 0 and 2) and a later head of this log (line 5, tree_size 8).
{
  const MID = BF.model_id;
  const other = (tree_size, extra = {}) => ({ model_id: 'other-model', tree_size, ...extra });
  const STD = [other(1), { receipt: 0 }, other(2), { receipt: 1 }, { receipt: 2 }, { model_id: MID, tree_size: 8 }];
  // lc(name, spec, why, {base, layout, hooks, edit(lines) -> text, partial: positions, proofEdit})
  const lc = (name, spec, why, { base = BF, layout = STD, hooks = {}, edit = null, partial = null, proofEdit = null, trustedKey = PK } = {}) => {
    const doc = clone(base);
    const old = headHashes(doc);
    proofEdit?.(doc);
    resign(doc, SEED, {}, old);
    const built = localChainFile(doc, SEED, layout, hooks);
    const text = edit ? edit(built.lines, built.text) : built.text;
    const proof = partial ? toPartial(built.doc, partial, SEED) : built.doc;
    emit(name, spec, why, proof, { chain: text, trustedKey });
  };
  const leavesOf = (d) => d.records.map((r) => Buffer.from(r.id, 'hex'));
  lc('lc-basic', 'verify', '§8: a file holding every receipt\'s entry at its index, linked and signed, one head per model and size');
  lc('lc-lineage', 'verify', '§8: lineage-full\'s two localchain receipts (its ethereum receipt is not in the file)', {
    base: LF, layout: [other(1), { receipt: 0 }, { receipt: 1 }],
  });
  lc('lc-partial', 'verify', '§8: the file with a partial proof of the same log', { partial: [1, 3] });
  lc('lc-no-receipts-empty-file', 'verify', '§6.1/§8: an empty file holds no entries; a proof without local receipts needs none', {
    proofEdit: (d) => { d.anchors = []; }, layout: [],
  });
  lc('lc-empty-file', 'fail', '§8: the file holds each localchain receipt\'s entry', { edit: () => '' });
  lc('lc-receipt-entry-missing', 'fail', '§8: the file holds each receipt\'s entry (the file stops before line 4)', {
    edit: (lines) => lines.slice(0, 4).map((l) => `${l}\n`).join(''),
  });
  lc('lc-line-dropped', 'fail', '§8: every line\'s index is its position (line 2 removed)', {
    edit: (lines) => lines.filter((_, i) => i !== 2).map((l) => `${l}\n`).join(''),
  });
  lc('lc-prev-entry-wrong', 'fail', '§8: prev_entry is the hash of the entry before (line 2, re-signed)', {
    hooks: { entry: (e, pos) => { if (pos === 2) e.prev_entry = 'ab'.repeat(32); } },
  });
  lc('lc-first-prev-not-null', 'fail', '§6.1: prev_entry is null at index 0 (line 0, re-signed)', {
    hooks: { entry: (e, pos) => { if (pos === 0) e.prev_entry = 'ab'.repeat(32); } },
  });
  lc('lc-signature-other-key', 'fail', '§8: every line\'s signature verifies by the signer (line 2 signed by another key)', {
    hooks: { signed: (line, pos) => { if (pos === 2) line.signature = keyFromSeed('11'.repeat(32)).sign(signingInput('pot.v1.local-chain-entry', line.entry)); } },
  });
  lc('lc-equivocation-other-model', 'fail', '§6.1: two entries name different heads for one (model_id, tree_size), here another model\'s: a verifier given the file MUST fail', {
    layout: [other(1), { receipt: 0 }, other(1), { receipt: 1 }, { receipt: 2 }],
  });
  lc('lc-same-head-twice', 'verify', '§6.1: only different heads for one (model_id, tree_size) equivocate; "the same head twice says nothing new"', {
    layout: [other(1, { head_hash: 'cd'.repeat(32), root_hash: 'ef'.repeat(32) }), { receipt: 0 }, other(1, { head_hash: 'cd'.repeat(32), root_hash: 'ef'.repeat(32) }), { receipt: 1 }, { receipt: 2 }],
  });
  lc('lc-second-entry-for-a-receipt-size', 'fail', '§6.1: a second entry of this model for tree_size 4 (the receipt\'s) naming another head: equivocation', {
    layout: [...STD, { model_id: MID, tree_size: 4 }],
  });
  // Head 2 (tree_size 4) without a receipt: the file's entry for size 4 names another head.
  const noHead2Receipt = (d) => { d.anchors.splice(1, 1); };
  lc('lc-other-head-for-a-proof-size', 'fail', '§8: no entry of the proof\'s model names, for the tree_size of one of its heads, another head (head 2 has no receipt)', {
    proofEdit: noHead2Receipt, layout: [other(1), { receipt: 0 }, { model_id: MID, tree_size: 4 }, { receipt: 1 }],
  });
  lc('lc-other-head-for-a-proof-size-partial', 'fail', '§8: the same in a partial proof (the head rule is not for full proofs only)', {
    proofEdit: noHead2Receipt, layout: [other(1), { receipt: 0 }, { model_id: MID, tree_size: 4 }, { receipt: 1 }], partial: [0],
  });
  lc('lc-entry-before-its-twin', 'fail', '§6.1/§8: equivocation found whichever entry comes first (another head for tree_size 2 before the receipt\'s)', {
    layout: [{ model_id: MID, tree_size: 2 }, { receipt: 0 }, { receipt: 1 }, { receipt: 2 }],
  });
  {
    // A full proof: an entry of this model for size 3 (not a head size) must have MTH of the first 3 leaves.
    const d0 = clone(BF);
    resign(d0, SEED);
    const root3 = mth(leavesOf(d0).slice(0, 3)).toString('hex');
    lc('lc-unlisted-size-right-root', 'verify', '§8: an entry of this model for a size with no head in the proof, with the root of the first 3 records', {
      layout: [...STD, { model_id: MID, tree_size: 3, root_hash: root3 }],
    });
    lc('lc-unlisted-size-wrong-root', 'fail', '§8: in a full proof every entry of the model with tree_size n within the log has MTH of the first n leaves', {
      layout: [...STD, { model_id: MID, tree_size: 3 }],
    });
    lc('lc-unlisted-size-wrong-root-partial', 'verify', '§8: the root rule is for full proofs only', {
      layout: [...STD, { model_id: MID, tree_size: 3 }], partial: [1],
    });
    lc('lc-size-beyond-log', 'verify', '§8: an entry of this model beyond the log (tree_size 8 > 6) is not compared', {
      layout: [...STD, { model_id: MID, tree_size: 9 }],
    });
    // Head 3 (tree_size 6, the log's size) without a receipt.
    const noHead3Receipt = (d) => { d.anchors.splice(2, 1); };
    const heads3 = (() => {
      const d = clone(BF);
      resign(d, SEED);
      return { head: headHashes(d)[2], root: d.tree_heads[2].head.root_hash };
    })();
    lc('lc-proof-head-wrong-root', 'fail', '§8: in a full proof, an entry naming the log\'s own head (size 6, "no larger than the log") with another root_hash', {
      proofEdit: noHead3Receipt, layout: [other(1), { receipt: 0 }, { receipt: 1 }, { model_id: MID, tree_size: 6, head_hash: heads3.head }],
    });
    lc('lc-proof-head-right-root', 'verify', '§8: an entry naming the log\'s own head with its root, no receipt in the proof', {
      proofEdit: noHead3Receipt, layout: [other(1), { receipt: 0 }, { receipt: 1 }, { model_id: MID, tree_size: 6, head_hash: heads3.head, root_hash: heads3.root }],
    });
  }
  lc('lc-entry-key-id-other', 'fail', '§8: every entry\'s key_id is the signer\'s (another model\'s entry, signed by the signer, naming another key id)', {
    hooks: { entry: (e, pos) => { if (pos === 0) e.key_id = 'ab'.repeat(32); } },
  });
  {
    // Line 0 (another model's) is another key's entry: its key id, signed by that key.
    const k2 = keyFromSeed('11'.repeat(32));
    const k2Id = sha256(Buffer.from(k2.publicKey, 'hex')).toString('hex');
    lc('lc-entry-of-another-signer', 'fail', '§8: every entry\'s key_id is the signer\'s and its signature verifies by the signer (line 0 is another key\'s, consistently signed)', {
      hooks: {
        entry: (e, pos) => { if (pos === 0) e.key_id = k2Id; },
        signed: (line, pos) => { if (pos === 0) line.signature = k2.sign(signingInput('pot.v1.local-chain-entry', line.entry)); },
      },
    });
  }
  lc('lc-entry-timestamp-far-future', 'verify', '§6.1: entry timestamps are not compared with anything', {
    layout: [other(1, { timestamp: '2099-01-01T00:00:00.000000Z' }), { receipt: 0 }, other(2), { receipt: 1 }, { receipt: 2 }],
  });
  lc('lc-entries-of-other-model-not-increasing', 'verify', '§8: nothing orders another model\'s sizes in the file (size 2 before size 1)', {
    layout: [other(2), { receipt: 0 }, other(1), { receipt: 1 }, { receipt: 2 }],
  });
  // Line syntax.
  const json = (l) => JSON.parse(l);
  lc('lc-line-with-spaces', 'verify', '§6.1: a line is UTF-8 JSON; whitespace between tokens is JSON', {
    edit: (lines) => lines.map((l, i) => (i === 2 ? `${JSON.stringify(json(l), null, 1).replace(/\n/g, ' ')}\n` : `${l}\n`)).join(''),
  });
  lc('lc-crlf', 'open', '§6.1: lines end in a newline; is "\\r\\n" one (the \\r being JSON whitespace)? This verifier reads a line as a JSON text, so it accepts', {
    edit: (lines) => lines.map((l) => `${l}\r\n`).join(''),
  });
  lc('lc-blank-line', 'fail', '§6.1: any other line that is not an entry makes the file damaged (an empty line after line 4)', {
    edit: (lines) => lines.map((l, i) => (i === 4 ? `${l}\n\n` : `${l}\n`)).join(''),
  });
  lc('lc-line-extra-key', 'fail', '§6.1: a line is exactly {"entry", "signature"}', {
    edit: (lines) => lines.map((l, i) => (i === 2 ? `${l.slice(0, -1)},"note":1}\n` : `${l}\n`)).join(''),
  });
  lc('lc-line-duplicate-key', 'fail', '§1: a duplicate key in a line', {
    edit: (lines) => lines.map((l, i) => (i === 2 ? `${l.slice(0, -1)},"signature":${JSON.stringify(json(l).signature)}}\n` : `${l}\n`)).join(''),
  });
  lc('lc-bom', 'fail', '§1: JSON without a byte order mark (the file starts with one)', { edit: (_, t) => `\ufeff${t}` });
  lc('lc-not-json-line', 'fail', '§6.1: a line that is not an entry (damaged)', {
    edit: (lines) => lines.map((l, i) => (i === 2 ? 'garbage\n' : `${l}\n`)).join(''),
  });
  // The last line without a newline.
  const NEXT = (t, lines, cut) => {
    // A seventh entry for another model, linked to line 5, cut after `cut` characters.
    const last = json(lines[lines.length - 1]).entry;
    const e = tree({ index: lines.length, prev_entry: 'x', model_id: 'other-model', tree_size: 3, root_hash: 'ab'.repeat(32),
      head_hash: 'cd'.repeat(32), timestamp: '2026-11-22T13:00:00.000000Z', key_id: last.key_id });
    e.prev_entry = sha256(signingInput('pot.v1.local-chain-entry', tree(last))).toString('hex');
    const line = serialize(tree({ entry: e, signature: keyFromSeed(SEED).sign(signingInput('pot.v1.local-chain-entry', e)) }), 0);
    return t + (cut === null ? line : line.slice(0, cut));
  };
  lc('lc-partial-last-line', 'verify', '§6.1: a last line without a newline that begins with {"entry":{"index": is not part of the chain', {
    edit: (lines, t) => NEXT(t, lines, 60),
  });
  lc('lc-partial-last-line-one-byte', 'verify', '§6.1: the shortest beginning of {"entry":{"index":, "{"', { edit: (lines, t) => NEXT(t, lines, 1) });
  lc('lc-complete-last-line-without-newline', 'verify', '§6.1: a whole entry line without its newline begins with {"entry":{"index":: not part of the chain', {
    edit: (lines, t) => NEXT(t, lines, null),
  });
  // A whole seventh entry written otherwise: an entry with its newline, damage without it
  // (§6.1: only a last line beginning with {"entry":{"index": is an interrupted write).
  const spaced = (l) => JSON.stringify(json(l), null, 1).replace(/\n/g, ' ');
  const sigFirst = (l) => `{"signature":${JSON.stringify(json(l).signature)},"entry":${l.slice('{"entry":'.length, l.lastIndexOf(',"signature":'))}}`;
  const nextLine = (lines) => NEXT('', lines, null);
  lc('lc-spaced-last-line', 'verify', '§6.1: a whole entry line written with spaces, with its newline, is an entry', {
    edit: (lines, t) => `${t}${spaced(nextLine(lines, t))}\n`,
  });
  lc('lc-spaced-last-line-without-newline', 'fail', '§6.1: the same line without its newline does not begin with {"entry":{"index": : the file is damaged', {
    edit: (lines, t) => `${t}${spaced(nextLine(lines, t))}`,
  });
  lc('lc-signature-first-last-line', 'verify', '§6.1: a whole entry line with its keys in another order, with its newline, is an entry', {
    edit: (lines, t) => `${t}${sigFirst(nextLine(lines, t))}\n`,
  });
  lc('lc-signature-first-last-line-without-newline', 'fail', '§6.1: the same line without its newline does not begin with {"entry":{"index": : the file is damaged', {
    edit: (lines, t) => `${t}${sigFirst(nextLine(lines, t))}`,
  });
  lc('lc-receipt-on-unterminated-last-line', 'fail', '§6.1/§8: the receipt\'s entry on a last line without a newline is not part of the chain, so the file does not hold it', {
    layout: STD.slice(0, 5),
    edit: (lines) => lines.map((l) => `${l}\n`).join('').slice(0, -1),
  });
  lc('lc-garbage-last-line', 'fail', '§6.1: a last line without a newline that does not begin with {"entry":{"index": makes the file damaged', {
    edit: (lines, t) => `${t}xyz`,
  });
  lc('lc-partial-last-line-wrong-key', 'fail', '§6.1: {"note": ... does not begin with {"entry":{"index":', {
    edit: (lines, t) => `${t}{"note": {"index": 6`,
  });
  {
    const cutUtf8 = (lines, t) => {
      // The next line's model_id is "é-model"; cut inside the two bytes of é.
      const full = Buffer.from(NEXT(t, lines, null).replace('"other-model","tree_size":3', '"\u00e9-model","tree_size":3'));
      const at = full.indexOf(Buffer.from('\u00e9')) + 1;
      return full.subarray(0, at);
    };
    lc('lc-partial-last-line-cut-in-utf8', 'verify', '§6.1: a writer stopped mid-write can cut a UTF-8 sequence: the line begins with {"entry":{"index":', { edit: cutUtf8 });
  }
}

// ---------------------------------------------------------------- more probes of number and chain-file edges
for (const [name, spec, text, why] of [
  ['0e-400', 'verify', '0e-400', '§1: 0 with any exponent is zero, not an underflow'],
  ['minus-0e400', 'verify', '-0e400', '§1: -0 with a large exponent is zero, not an overflow'],
  ['smallest-subnormal-rounding-up', 'verify', '2.4703282292062328e-324', '§1: rounds to 5e-324, not to zero'],
  ['below-half-smallest-subnormal', 'fail', '2.4703282292062327e-324', '§1: rounds to zero: an underflow'],
  ['largest-double-rounding-down', 'verify', '1.7976931348623158e308', '§1: rounds to the largest double'],
  ['above-largest-double', 'fail', '1.7976931348623159e308', '§1: rounds to infinity: an overflow'],
]) {
  if (spec === 'verify') {
    kase(`free-form-${name}`, spec, `${why} (${text})`, LF, (d) => {
      rec(d, 0).data.config.x = new Num(text, Number(text));
      rehash(d);
    });
  } else {
    // The value has no JCS (infinity) or the wrong one (zero): only the spelling is swapped in.
    const doc = clone(LF);
    rec(doc, 0).data.config.x = N(0.5);
    rehash(doc);
    resign(doc, SEED);
    emit(`free-form-${name}`, spec, `${why} (${text})`, null, { text: serialize(doc).replace('"x": 0.5', `"x": ${text}`) });
  }
}
{
  const MID = BF.model_id;
  const other = (tree_size, extra = {}) => ({ model_id: 'other-model', tree_size, ...extra });
  const lc2 = (name, spec, why, { layout, proofEdit = null, edit = null, partial = null, hooks = {} }) => {
    const doc = clone(BF);
    const old = headHashes(doc);
    proofEdit?.(doc);
    resign(doc, SEED, {}, old);
    const built = localChainFile(doc, SEED, layout, hooks);
    const text = edit ? edit(built.lines, built.text) : built.text;
    emit(name, spec, why, partial ? toPartial(built.doc, partial, SEED) : built.doc, { chain: text });
  };
  const noHead3Receipt = (d) => { d.anchors.splice(2, 1); };
  const head3 = (() => {
    const d = clone(BF);
    resign(d, SEED);
    return headHashes(d)[2];
  })();
  lc2('lc-proof-head-wrong-root-partial', 'verify', '§8: in a partial proof only the head named is compared (the root rule is for full proofs)', {
    proofEdit: noHead3Receipt, layout: [other(1), { receipt: 0 }, { receipt: 1 }, { model_id: MID, tree_size: 6, head_hash: head3 }], partial: [1],
  });
  lc2('lc-index-spelled-0.0', 'fail', '§1/§6.1: index is an integer field (line 0, another model\'s, spelled 0.0, re-signed: JCS is unchanged)', {
    layout: [other(1), { receipt: 0 }, { receipt: 1 }, { receipt: 2 }],
    hooks: { entry: (e, pos) => { if (pos === 0) e.index = new Num('0.0', 0); } },
  });
  lc2('lc-only-a-newline', 'fail', '§6.1: an empty line is not an entry: the file is damaged', {
    proofEdit: (d) => { d.anchors = []; }, layout: [], edit: () => '\n',
  });
  lc2('lc-line-leading-space', 'verify', '§6.1: a line is UTF-8 JSON: whitespace before the object is JSON whitespace', {
    layout: [other(1), { receipt: 0 }, { receipt: 1 }, { receipt: 2 }],
    edit: (lines) => lines.map((l, i) => (i === 0 ? ` ${l}\n` : `${l}\n`)).join(''),
  });
  lc2('lc-big-integer-in-line', 'fail', '§1: an integer spelling beyond 2^53−1 in a line (tree_size of another model)', {
    layout: [other(1), { receipt: 0 }, { receipt: 1 }, { receipt: 2 }],
    hooks: { entry: (e, pos) => { if (pos === 0) e.tree_size = new Num('9007199254740993', 9007199254740992); } },
  });
}

// ---------------------------------------------------------------- which unterminated last line is an interrupted write (§6.1)
{
  const STD4 = [{ model_id: 'other-model', tree_size: 1 }, { receipt: 0 }, { receipt: 1 }, { receipt: 2 }];
  const tailCase = (name, spec, tail, why) => {
    const doc = clone(BF);
    resign(doc, SEED);
    const built = localChainFile(doc, SEED, STD4);
    const bytes = Buffer.isBuffer(tail) ? tail : Buffer.from(tail);
    emit(name, spec, `§6.1: a last line without a newline, ${JSON.stringify(bytes.toString('latin1'))}: ${why}`, built.doc, { chain: Buffer.concat([Buffer.from(built.text), bytes]) });
  };
  // §6.1: "A last line without a newline that begins with {"entry":{"index":, or is a
  // beginning of that text, is what a writer that stopped mid-write leaves ... Any other line
  // that is not an entry makes the file damaged." What follows those bytes is not read.
  const START = '{"entry":{"index":';
  tailCase('lc-tail-compact-start', 'verify', '{"entry":{"index":4,"prev', 'begins with {"entry":{"index":');
  tailCase('lc-tail-exactly-the-start', 'verify', START, 'exactly {"entry":{"index":');
  tailCase('lc-tail-start-but-its-last-byte', 'verify', START.slice(0, -1), 'a beginning of {"entry":{"index":');
  tailCase('lc-tail-one-byte', 'verify', '{', 'the shortest beginning of {"entry":{"index":');
  tailCase('lc-tail-start-last-byte-differs', 'fail', `${START.slice(0, -1)};`, 'neither begins with {"entry":{"index": nor is a beginning of it (the last byte differs)');
  tailCase('lc-tail-space-before-colon', 'fail', '{"entry":{"index" :4', 'a space where {"entry":{"index": has its colon');
  tailCase('lc-tail-whitespace-only', 'fail', ' ', 'a lone space is no beginning of {"entry":{"index":');
  tailCase('lc-tail-leading-space', 'fail', ` ${START}4`, 'a space before {"entry":{"index":');
  tailCase('lc-tail-spaced', 'fail', '{"entry": {"index": 4, "prev', 'the start of a line written with spaces');
  tailCase('lc-tail-other-key-order', 'fail', '{"signature":"ab', 'the start of a line with its keys in another order');
  tailCase('lc-tail-entry-keys-reordered', 'fail', '{"entry":{"prev_entry":"ab', 'the start of an entry with its keys in another order');
  tailCase('lc-tail-upper-case-key', 'fail', '{"Entry":{"index":4', 'keys are case-sensitive');
  tailCase('lc-tail-unknown-key', 'fail', '{"note', 'no beginning of {"entry":{"index":');
  tailCase('lc-tail-index-a-string', 'verify', `${START}"x`, 'begins with {"entry":{"index":, whatever follows');
  tailCase('lc-tail-tree-size-0', 'verify', `${START}4,"prev_entry":null,"model_id":"m","tree_size":0`, 'begins with {"entry":{"index":, whatever follows');
  tailCase('lc-tail-upper-hex', 'verify', `${START}4,"prev_entry":"AB`, 'begins with {"entry":{"index":, whatever follows');
  tailCase('lc-tail-whole-object-not-an-entry', 'verify', `${START}4},"signature":"00"}`, 'begins with {"entry":{"index":, though no entry line can follow so');
  tailCase('lc-tail-cut-in-escaped-pair', 'verify', `${START}4,"prev_entry":"${'ab'.repeat(32)}","model_id":"\\ud83d`, 'cut between the two escapes of a surrogate pair');
  tailCase('lc-tail-refused-code-point', 'verify', `${START}4,"prev_entry":"${'ab'.repeat(32)}","model_id":"a\\u200b`, 'begins with {"entry":{"index":, whatever follows');
  tailCase('lc-tail-start-then-bytes-not-utf8', 'verify', Buffer.concat([Buffer.from(`${START}4,"model_id":"`), Buffer.from([0xff, 0xfe])]), 'begins with {"entry":{"index":, whatever bytes follow');
  tailCase('lc-tail-start-then-newline', 'fail', `${START}4\n`, 'with its newline it is a whole line, and not an entry: the file is damaged');
  // A file holding nothing but a beginning (a proof without local receipts needs no entry).
  const onlyTail = (name, spec, tail, why) => {
    const doc = clone(BF);
    doc.anchors = [];
    resign(doc, SEED);
    emit(name, spec, `§6.1: a file holding only ${JSON.stringify(tail)} without a newline: ${why}`, doc, { chain: tail });
  };
  onlyTail('lc-only-a-beginning', 'verify', '{"entry":{"in', 'the first write was interrupted; no entries');
  onlyTail('lc-only-a-space', 'fail', ' ', 'no beginning of {"entry":{"index":: damaged');
}

fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
process.stdout.write(`${manifest.length} cases written to ${out}\n`);

// ---------------------------------------------------------------- helpers
function nest(levels) {
  let v = N(1);
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}
function rehash(d) {
  for (const r of d.records)
    if (r.type === 'event' && r.event === 'RunStarted') {
      r.data.config_hash = sha256(jcsBytes(r.data.config)).toString('hex');
      r.data.environment_hash = sha256(jcsBytes(r.data.environment)).toString('hex');
    }
}
// Moves lineage-full's second head, its receipts and the proof later so that record 9
// can be placed at `ts` relative to the ethereum receipt's block_time (12:05:45).
function lateLineage(d, ts) {
  d.tree_heads[1].head.timestamp = '2026-11-22T12:06:10.000000Z';
  d.anchors[1].timestamp = '2026-11-22T12:06:20.000000Z';
  d.anchors[2].timestamp = '2026-11-22T12:06:20.000000Z';
  d.proof_timestamp = '2026-11-22T12:07:00.000000Z';
  rec(d, 9).timestamp = ts;
}
void S;

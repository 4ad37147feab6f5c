#!/usr/bin/env node
// Recomputes every known-answer vector of tests/assets/vectors/v1.json from
// docs/PROOF_FORMAT.md alone. Exit 0 when all match, 1 naming each mismatch.
//
//   node tests/crosscheck/vectors.mjs [VECTORS.json] [--proofs DIR]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Num, isObject, parseBytes } from './lib/json.mjs';
import { jcs } from './lib/jcs.mjs';
import { keyFromSeed, publicKeyProblemHex, verifySignature } from './lib/ed25519.mjs';
import { eip55, isEip55, keccak256 } from './lib/keccak.mjs';
import { consistencyProof, inclusionPath, mth, sha256, verifyConsistency, verifyInclusion } from './lib/merkle.mjs';
import { asDouble, combine, decide } from './lib/gate.mjs';
import {
  DOMAIN, Fail, Shape, checkDecisionShape, checkEntryShape, checkGateShape, checkReceiptShape, checkRecordShape,
  leafHash, nameProblem, objectHash, proofSigningInput, signingInput, verifyProof,
} from './lib/verifier.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let vectorsPath = path.join(here, '..', 'assets', 'vectors', 'v1.json');
let proofsDir = path.join(here, '..', 'assets', 'proofs', 'v1');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--proofs') proofsDir = args[++i];
  else vectorsPath = args[i];
}

const mismatches = [];
let checked = 0;
function eq(what, got, want) {
  checked++;
  if (got !== want) mismatches.push(`${what}: computed ${JSON.stringify(got)}, vector says ${JSON.stringify(want)}`);
}
function ok(what, cond, detail = '') {
  checked++;
  if (!cond) mismatches.push(`${what}${detail ? `: ${detail}` : ''}`);
}
function shapeOk(what, f) {
  checked++;
  try {
    f(new Shape());
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    mismatches.push(`${what}: refused by the spec's schema (${e.message})`);
  }
}
const hex = (b) => Buffer.from(b).toString('hex');
const num = (v) => (v instanceof Num ? v.value : v);

const V = parseBytes(fs.readFileSync(vectorsPath));

// -- self-tests of the primitives against published values
eq('keccak256("")', keccak256(Buffer.alloc(0)), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
eq('keccak256("abc")', keccak256(Buffer.from('abc')), '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45');
eq('MTH([])', hex(mth([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
eq('JCS number 1e21', jcs(1e21), '1e+21');
eq('JCS number 1e-7', jcs(1e-7), '1e-7');
eq('JCS string escapes', jcs('\u0001\n"\\\u007f\u2028'), '"\\u0001\\n\\"\\\\\u007f\u2028"');

// -- key
const key = keyFromSeed(V.key.seed);
eq('key.public_key', key.publicKey, V.key.public_key);
eq('key.key_id', hex(sha256(Buffer.from(V.key.public_key, 'hex'))), V.key.key_id);
eq('key.public_key is valid (§2)', publicKeyProblemHex(V.key.public_key), null);
const PK = V.key.public_key;

// -- records and more_records
function recordVectors(list, name) {
  const leaves = [];
  list.forEach((r, i) => {
    eq(`${name}[${i}].canonical_json`, jcs(r.body), r.canonical_json);
    const leaf = hex(leafHash(r.body));
    eq(`${name}[${i}].leaf_hash`, leaf, r.leaf_hash);
    const rec = Object.assign(Object.create(null), { id: leaf }, r.body);
    shapeOk(`${name}[${i}].body`, (s) => checkRecordShape(s, rec, `${name}[${i}]`, false));
    leaves.push(Buffer.from(leaf, 'hex'));
  });
  return leaves;
}
const leaves = recordVectors(V.records, 'records');
const moreLeaves = recordVectors(V.more_records, 'more_records');
recordVectors(V.replay_records, 'replay_records');

// -- replay digests (docs/REPLAY.md): batch digests and pot.state-hash.v1, over pot.model-hash.v1 manifests
function modelDigest(tensors) {
  // names here are ASCII, where UTF-16 order (JS's <) is code point order
  const entries = tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape,
    sha256: hex(sha256(Buffer.from(t.bytes_hex, 'hex'))) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return hex(sha256(Buffer.from(jcs({ format: 'pot.model-hash.v1', tensors: entries }), 'utf8')));
}
V.replay_digests.batches.forEach((b, i) => {
  ok(`replay_digests.batches[${i}] starts with int64 [n] "indices"`,
    b.tensors[0].name === 'indices' && b.tensors[0].dtype === 'int64' && b.tensors[0].shape.length === 1);
  eq(`replay_digests.batches[${i}].digest`, modelDigest(b.tensors), b.digest);
  eq(`replay_records: steps record's batches[${i}]`, V.replay_records[2].body.batches[i], b.digest);
});
{
  const st = V.replay_digests.state;
  eq('replay_digests.state.tensors_digest', modelDigest(st.tensors), st.tensors_digest);
  eq('replay_digests.state.digest', hex(sha256(Buffer.from(jcs({ format: 'pot.state-hash.v1',
    tensors: st.tensors_digest, values: st.values }), 'utf8'))), st.digest);
}

// -- tree
V.tree.leaf_hashes.forEach((h, i) => eq(`tree.leaf_hashes[${i}]`, h, hex(leaves[i])));
eq('tree.leaf_hashes length', V.tree.leaf_hashes.length, leaves.length);
for (const n of Object.keys(V.tree.roots)) eq(`tree.roots[${n}]`, hex(mth(leaves.slice(0, Number(n)))), V.tree.roots[n]);
for (const c of V.tree.inclusion) {
  const idx = num(c.index);
  const size = num(c.tree_size);
  const D = leaves.slice(0, size);
  eq(`tree.inclusion[index ${idx}, size ${size}].path`, jcs(inclusionPath(idx, D).map(hex)), jcs(c.path));
  ok(`tree.inclusion[index ${idx}, size ${size}] verifies (RFC 9162 §2.1.3.2)`,
    verifyInclusion(idx, size, leaves[idx], c.path.map((p) => Buffer.from(p, 'hex')), mth(D)));
}
for (const c of V.tree.consistency) {
  const m = num(c.old_size);
  const n = num(c.new_size);
  eq(`tree.consistency[${m} -> ${n}].path`, jcs(consistencyProof(m, leaves.slice(0, n)).map(hex)), jcs(c.path));
  ok(`tree.consistency[${m} -> ${n}] verifies (RFC 9162 §2.1.4.2)`,
    verifyConsistency(m, n, mth(leaves.slice(0, m)), mth(leaves.slice(0, n)), c.path.map((p) => Buffer.from(p, 'hex'))));
}
// Every inclusion and consistency proof over every prefix of both logs round-trips.
for (const L of [leaves, moreLeaves]) {
  for (let n = 1; n <= L.length; n++) {
    const D = L.slice(0, n);
    for (let m = 0; m < n; m++) {
      ok(`inclusion round trip ${m}/${n}`, verifyInclusion(m, n, D[m], inclusionPath(m, D), mth(D)));
      if (m >= 1) ok(`consistency round trip ${m}->${n}`, verifyConsistency(m, n, mth(L.slice(0, m)), mth(D), consistencyProof(m, D)));
    }
  }
}

// -- tree head, local chain entry, anchor receipts
function signedObject(name, v, domain, { signature = v.signature, hashKey = null } = {}) {
  const si = signingInput(domain, v.body);
  eq(`${name}.signing_input_hex`, hex(si), v.signing_input_hex);
  if (hashKey) eq(`${name}.${hashKey}`, objectHash(domain, v.body), v[hashKey]);
  if (signature !== undefined) {
    eq(`${name}.signature (RFC 8032 signing with key.seed)`, key.sign(si), signature);
    ok(`${name}.signature verifies (§2)`, verifySignature(PK, signature, si));
  }
}
shapeOk('tree_head.body', (s) => {
  s.keys(V.tree_head.body, 'tree_head.body', ['model_id', 'tree_size', 'root_hash', 'prev_head', 'timestamp', 'key_id']);
  s.timestamp(V.tree_head.body.timestamp, 'tree_head.body.timestamp');
});
signedObject('tree_head', V.tree_head, DOMAIN.head, { hashKey: 'head_hash' });
eq('tree_head.body.root_hash', V.tree_head.body.root_hash, hex(mth(leaves.slice(0, num(V.tree_head.body.tree_size)))));
shapeOk('local_chain_entry.body', (s) => checkEntryShape(s, V.local_chain_entry.body, 'local_chain_entry.body'));
signedObject('local_chain_entry', V.local_chain_entry, DOMAIN.entry, { signature: undefined, hashKey: 'entry_hash' });
for (const name of ['anchor_receipt', 'ethereum_receipt']) {
  const v = V[name];
  shapeOk(`${name}.body`, (s) =>
    checkReceiptShape(s, Object.assign(Object.create(null), v.body, { signature: v.signature }), `${name}.body`));
  signedObject(name, v, DOMAIN.receipt);
}
{
  const e = V.anchor_receipt.body.details.entry;
  const esig = V.anchor_receipt.body.details.entry_signature;
  const si = signingInput(DOMAIN.entry, e);
  eq('anchor_receipt.body.details.entry_signature', key.sign(si), esig);
  ok('anchor_receipt.body.details.entry_signature verifies', verifySignature(PK, esig, si));
  eq('anchor_receipt entry head_hash is tree_head.head_hash', e.head_hash, V.tree_head.head_hash);
}
{
  const d = V.ethereum_receipt.body.details;
  eq('ethereum_receipt meta_hash', d.meta_hash, `0x${V.ethereum_receipt.body.head_hash}`);
  ok('ethereum_receipt contract is EIP-55', isEip55(d.contract));
  ok('ethereum_receipt submitter is EIP-55', isEip55(d.submitter));
  const ts = Math.floor(Date.parse(V.ethereum_receipt.body.timestamp) / 1000);
  ok('ethereum_receipt block_time <= receipt time + 15', num(d.block_time) <= ts + 15);
}

// -- proof signature over basic-full.proof.json
{
  const doc = parseBytes(fs.readFileSync(path.join(proofsDir, 'basic-full.proof.json')));
  const si = proofSigningInput(doc);
  eq('proof_signature.signing_input_sha256', hex(sha256(si)), V.proof_signature.signing_input_sha256);
  eq('proof_signature.signature', key.sign(si), V.proof_signature.signature);
  eq('basic-full.proof.json signature_hash', doc.signature_hash, V.proof_signature.signature);
}

// -- gate decisions
V.gate_decisions.forEach((g, i) => {
  shapeOk(`gate_decisions[${i}].gate`, (s) => checkGateShape(s, g.gate, `gate_decisions[${i}].gate`));
  shapeOk(`gate_decisions[${i}].decision`, (s) => checkDecisionShape(s, g.decision, `gate_decisions[${i}].decision`));
  const got = decide(g.gate, combine([{ metrics: g.metrics }]));
  eq(`gate_decisions[${i}].decision (JCS)`, jcs(got), jcs(g.decision));
  if (i === 0) {
    // The spec: summing the products in floating point gives a score below min_score.
    const w = g.gate.weights;
    let num_ = 0;
    let den = 0;
    for (const k of Object.keys(w)) {
      num_ += asDouble(w[k]) * asDouble(g.metrics[k]);
      den += asDouble(w[k]);
    }
    ok('gate_decisions[0]: the floating-point score is below min_score', num_ / den < asDouble(g.gate.min_score),
      `float score ${num_ / den}, min_score ${asDouble(g.gate.min_score)}`);
    ok('gate_decisions[0]: the exact score passes', got.passed === true);
  }
});
// Combined metrics: a later input's value replaces an earlier one's.
{
  const c = combine([{ metrics: { a: 1, b: 2 } }, { metrics: { a: 3 } }]);
  ok('combined metrics: later input wins', c.get('a') === 3 && c.get('b') === 2);
}

// -- EIP-55
V.eip55.forEach((a, i) => {
  eq(`eip55[${i}]`, eip55(a), a);
  ok(`eip55[${i}] is accepted`, isEip55(a));
  const wrong = a.slice(0, 2) + [...a.slice(2)].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
  if (/[a-fA-F]/.test(a.slice(2))) ok(`eip55[${i}] with its case flipped is refused`, !isEip55(wrong));
});

// -- refused keys and names
V.refused_public_keys.forEach((k, i) => {
  ok(`refused_public_keys[${i}] (${k.public_key}) is refused`, publicKeyProblemHex(k.public_key) !== null);
});
V.refused_names.forEach((n, i) => {
  ok(`refused_names[${i}] (${n.why}) is refused`, nameProblem(n.name) !== null);
});

// -- ethereum-aggregate receipts (§6.5), tests/assets/vectors/aggregate.json
{
  const aggregateFile = fs.readFileSync(path.join(path.dirname(vectorsPath), 'aggregate.json'));
  const A = parseBytes(aggregateFile);
  eq('aggregate.key.public_key', A.key.public_key, PK);
  const leaves = A.head_hashes.map((h, i) => {
    const pre = Buffer.concat([Buffer.from([0]), Buffer.from('pot.v1.aggregate-leaf', 'ascii'), Buffer.from([0]),
      Buffer.from(h, 'hex')]);
    eq(`aggregate.leaf_preimages[${i}]`, hex(pre), A.leaf_preimages[i]);
    const leaf = sha256(pre);
    eq(`aggregate.leaves[${i}]`, hex(leaf), A.leaves[i]);
    return leaf;
  });
  const root = mth(leaves);
  eq('aggregate.aggregate_root', hex(root), A.aggregate_root);
  eq('aggregate.aggregate_size', num(A.aggregate_size), leaves.length);
  const metaInput = { aggregate_root: hex(root), aggregate_size: leaves.length, key_id: V.key.key_id };
  eq('aggregate.meta_hash_input', jcs(metaInput), jcs(A.meta_hash_input));
  eq('aggregate.meta_hash', hex(sha256(signingInput(DOMAIN.aggregateAnchor, metaInput))), A.meta_hash);
  leaves.forEach((leaf, i) => {
    const p = inclusionPath(i, leaves);
    eq(`aggregate.paths[${i}]`, jcs(p.map(hex)), jcs(A.paths[i]));
    ok(`aggregate.paths[${i}] verifies`, verifyInclusion(i, leaves.length, leaf, p, root));
  });
  const R = A.receipt;
  eq('aggregate.receipt.head_hash', objectHash(DOMAIN.head, R.head), R.head_hash);
  eq('aggregate.receipt.body.head_hash', R.body.head_hash, R.head_hash);
  eq('aggregate.head_hashes[0] is the receipt head', A.head_hashes[0], R.head_hash);
  shapeOk('aggregate.receipt', (s) => checkReceiptShape(s, { ...R.body, signature: R.signature }, 'aggregate.receipt'));
  const si = signingInput(DOMAIN.receipt, R.body);
  eq('aggregate.receipt.signing_input_hex', hex(si), R.signing_input_hex);
  eq('aggregate.receipt.signature (from the seed)', key.sign(si), R.signature);
  ok('aggregate.receipt.signature verifies', verifySignature(PK, R.signature, si));
  eq('aggregate.receipt path', jcs(R.body.details.path), jcs(A.paths[num(R.body.details.leaf_index)]));
  const proofText = JSON.stringify(JSON.parse(aggregateFile.toString('utf8')).proof);
  const r = verifyProof(Buffer.from(proofText), { trustedKey: PK, now: '2030-01-01T00:00:00.000000Z' });
  ok('aggregate.proof verifies pinned to key.public_key', r.ok, r.reason || '');
  ok('aggregate.proof: its head is chain-unchecked', r.ok && r.heads[0].strength === 'chain-unchecked');
}

// -- every proof of the corpus verifies, pinned to the vector key
for (const f of fs.readdirSync(proofsDir).filter((f) => f.endsWith('.json')).sort()) {
  const r = verifyProof(fs.readFileSync(path.join(proofsDir, f)), { trustedKey: PK, now: '2030-01-01T00:00:00.000000Z' });
  ok(`proofs/${f} verifies pinned to key.public_key`, r.ok, r.reason || '');
}

if (mismatches.length) {
  for (const m of mismatches) process.stdout.write(`MISMATCH ${m}\n`);
  process.stdout.write(`${mismatches.length} of ${checked} vector checks failed\n`);
  process.exit(1);
}
process.stdout.write(`all ${checked} vector checks match\n`);

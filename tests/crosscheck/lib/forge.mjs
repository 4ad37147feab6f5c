// Builds test documents: re-derives and re-signs a proof (with a known seed, such as the
// vectors' key) after an edit, so that only the check under test can catch the edit.
// Written from docs/PROOF_FORMAT.md alone, like the verifier.
import crypto from 'node:crypto';
import { Num, isObject, parseBytes } from './json.mjs';
import { keyFromSeed } from './ed25519.mjs';
import { consistencyProof, inclusionPath, mth, sha256 } from './merkle.mjs';
import { DOMAIN, leafHash, objectHash, proofSigningInput, signingInput } from './verifier.mjs';

// A number as a writer spells it: §1 wants an integer beyond ±(2^53−1) written with an
// exponent, where ECMAScript's String() writes digits up to 1e21.
export const N = (x) => new Num(Number.isInteger(x) && Math.abs(x) > Number.MAX_SAFE_INTEGER ? x.toExponential() : String(x), x);
const hex = (b) => Buffer.from(b).toString('hex');
const intOf = (n) => (n instanceof Num ? Number(n.text) : n);

// JSON text of a tree, numbers written as their Num.text.
export function serialize(v, indent = 1, level = 0) {
  const pad = indent ? '\n' + ' '.repeat(indent * (level + 1)) : '';
  const end = indent ? '\n' + ' '.repeat(indent * level) : '';
  if (v === null || v === true || v === false) return String(v);
  if (v instanceof Num) return v.text;
  if (typeof v === 'number') return JSON.stringify(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return '[' + v.map((x) => pad + serialize(x, indent, level + 1)).join(',') + end + ']';
  }
  if (isObject(v)) {
    const ks = Object.keys(v);
    if (!ks.length) return '{}';
    return '{' + ks.map((k) => pad + JSON.stringify(k) + (indent ? ': ' : ':') + serialize(v[k], indent, level + 1)).join(',') + end + '}';
  }
  throw new Error(`serialize: ${typeof v}`);
}

export function clone(v) {
  if (v instanceof Num) return new Num(v.text, v.value);
  if (Array.isArray(v)) return v.map(clone);
  if (isObject(v)) {
    const o = Object.create(null);
    for (const k of Object.keys(v)) o[k] = clone(v[k]);
    return o;
  }
  return v;
}

// A plain JS value as a tree (objects null-prototype, numbers as Num).
export function tree(v) {
  if (typeof v === 'number') return N(v);
  if (Array.isArray(v)) return v.map(tree);
  if (v !== null && typeof v === 'object' && !(v instanceof Num)) {
    const o = Object.create(null);
    for (const k of Object.keys(v)) o[k] = tree(v[k]);
    return o;
  }
  return v;
}

export const load = (bytes) => parseBytes(bytes);

function bodyOf(rec) {
  const b = Object.create(null);
  for (const k of Object.keys(rec)) if (k !== 'id' && k !== 'inclusion') b[k] = rec[k];
  return b;
}

// Re-derive a FULL proof after edits, signed by seedHex. Hooks run after each stage
// (records, heads, receipts, summary) to leave a chosen value wrong.
export const headHashes = (doc) => doc.tree_heads.map((th) => objectHash(DOMAIN.head, th.head));

export function resign(doc, seedHex, hooks = {}, oldHeadHashes = null) {
  const key = keyFromSeed(seedHex);
  const keyId = hex(sha256(Buffer.from(key.publicKey, 'hex')));
  doc.signer.public_key = key.publicKey;
  doc.signer.key_id = keyId;
  oldHeadHashes = oldHeadHashes || headHashes(doc);

  const leaves = doc.records.map((r) => leafHash(bodyOf(r)));
  doc.records.forEach((r, i) => {
    r.id = hex(leaves[i]);
  });
  hooks.records?.(doc);

  const newHeadHashes = [];
  doc.tree_heads.forEach((th, i) => {
    const h = th.head;
    const size = intOf(h.tree_size);
    h.model_id = doc.model_id;
    h.key_id = keyId;
    h.root_hash = hex(mth(leaves.slice(0, size)));
    h.prev_head = i === 0 ? null : newHeadHashes[i - 1];
    hooks.head?.(h, i);
    th.signature = key.sign(signingInput(DOMAIN.head, h));
    th.consistency = i === 0 ? [] : consistencyProof(intOf(doc.tree_heads[i - 1].head.tree_size), leaves.slice(0, size)).map(hex);
    newHeadHashes.push(objectHash(DOMAIN.head, h));
  });
  hooks.heads?.(doc);

  for (const r of doc.anchors) {
    let hi = oldHeadHashes.indexOf(r.head_hash);
    if (hi < 0) hi = newHeadHashes.indexOf(r.head_hash);
    if (hi >= 0) {
      const h = doc.tree_heads[hi].head;
      r.head_hash = newHeadHashes[hi];
      r.root_hash = h.root_hash;
      if (r.backend === 'localchain') {
        const e = r.details.entry;
        Object.assign(e, { model_id: h.model_id, tree_size: h.tree_size, root_hash: h.root_hash, head_hash: r.head_hash });
      } else if (r.backend === 'ethereum') {
        r.details.meta_hash = `0x${r.head_hash}`;
      }
    }
    r.key_id = keyId;
    hooks.receipt?.(r);
    if (r.backend === 'localchain') {
      r.details.entry.key_id = keyId;
      hooks.entry?.(r.details.entry, r);
      r.details.entry_signature = key.sign(signingInput(DOMAIN.entry, r.details.entry));
    }
    const body = Object.create(null);
    for (const k of Object.keys(r)) if (k !== 'signature') body[k] = r[k];
    r.signature = key.sign(signingInput(DOMAIN.receipt, body));
  }
  hooks.receipts?.(doc);

  summarise(doc);
  hooks.summary?.(doc);
  doc.signature_hash = key.sign(proofSigningInput(doc));
  return doc;
}

export function summarise(doc) {
  const partial = doc.disclosure === 'partial';
  const recs = doc.records;
  const heads = doc.tree_heads;
  const latest = heads[heads.length - 1].head;
  let fmh = null;
  if (!partial) for (const r of recs) if (r.type === 'checkpoint') fmh = r.model_hash;
  doc.final_model_hash = fmh;
  doc.merkle_root = latest.root_hash;
  doc.blockchain_transactions = doc.anchors.filter((r) => r.backend === 'ethereum').map((r) => r.details.tx_hash);
  const vm = doc.verification_metadata;
  const out = Object.create(null);
  out.generator = vm.generator;
  out.record_count = N(recs.length);
  out.training_checkpoints = N(recs.filter((r) => r.type === 'checkpoint').length);
  out.validations = N(recs.filter((r) => r.type === 'validation').length);
  out.tree_heads = N(heads.length);
  out.log_size = latest.tree_size;
  const ar = Object.create(null);
  for (const r of doc.anchors) ar[r.backend] = N((ar[r.backend]?.value || 0) + 1);
  out.anchor_receipts = ar;
  for (const t of ['steps', 'event']) {
    const n = recs.filter((r) => r.type === t).length;
    if (n) out[`${t}_records`] = N(n);
  }
  doc.verification_metadata = out;
}

// A partial proof of a (re-signed, full) proof disclosing the records at `positions`.
export function toPartial(full, positions, seedHex, hooks = {}) {
  const key = keyFromSeed(seedHex);
  const doc = clone(full);
  const leaves = full.records.map((r) => Buffer.from(r.id, 'hex'));
  const size = intOf(full.tree_heads[full.tree_heads.length - 1].head.tree_size);
  doc.disclosure = 'partial';
  doc.records = positions.map((p) => {
    const r = clone(full.records[p]);
    r.inclusion = inclusionPath(intOf(r.seq), leaves.slice(0, size)).map(hex);
    return r;
  });
  hooks.records?.(doc);
  summarise(doc);
  hooks.summary?.(doc);
  doc.signature_hash = key.sign(proofSigningInput(doc));
  return doc;
}

// Non-canonical but equation-satisfying signatures under the key of seedHex:
// 'zero-nonce' gives R = identity, S = k·a (valid by the cofactorless equation, refused
// by §2 rule 3); 'S+L' adds L to S of an honest signature (refused by rule 2).
export function oddSignature(seedHex, msg, kind) {
  const P = 2n ** 255n - 19n;
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const le = (b) => BigInt('0x' + Buffer.from(b).reverse().toString('hex'));
  const toLe = (x) => Buffer.from(x.toString(16).padStart(64, '0'), 'hex').reverse();
  const key = keyFromSeed(seedHex);
  if (kind === 'S+L') {
    const sig = Buffer.from(key.sign(msg), 'hex');
    const S = le(sig.subarray(32)) + L;
    return Buffer.concat([sig.subarray(0, 32), toLe(S)]).toString('hex');
  }
  const h = crypto.createHash('sha512').update(Buffer.from(seedHex, 'hex')).digest();
  const a0 = Buffer.from(h.subarray(0, 32));
  a0[0] &= 248;
  a0[31] &= 127;
  a0[31] |= 64;
  const a = le(a0);
  const R = toLe(1n); // the identity (0, 1)
  const k = le(crypto.createHash('sha512').update(Buffer.concat([R, Buffer.from(key.publicKey, 'hex'), msg])).digest()) % L;
  void P;
  return Buffer.concat([R, toLe((k * a) % L)]).toString('hex');
}

// A local chain file (§6.1) for a full proof, re-signing the proof to match. `layout`
// lists the file's lines in order: {receipt: i} puts doc.anchors[i]'s entry there, any
// other object is an entry of the store (another model, or this one) with the fields it
// gives. Each entry gets its index and prev_entry; `hooks.entry(e, pos)` may then change
// an entry before the next one links to it, `hooks.line(line, pos)` a line before it is
// signed... or after (`hooks.signed`). Returns {doc, lines: [text without "\n"], text}.
export function localChainFile(doc, seedHex, layout, hooks = {}) {
  const key = keyFromSeed(seedHex);
  resign(doc, seedHex);
  const keyId = hex(sha256(Buffer.from(key.publicKey, 'hex')));
  const entries = layout.map((item, pos) => {
    if ('receipt' in item) return doc.anchors[item.receipt].details.entry;
    const e = Object.create(null);
    e.index = N(pos);
    e.prev_entry = null;
    e.model_id = item.model_id;
    e.tree_size = N(item.tree_size);
    e.root_hash = item.root_hash || hex(sha256(Buffer.from(`root ${pos}`)));
    e.head_hash = item.head_hash || hex(sha256(Buffer.from(`head ${pos}`)));
    e.timestamp = item.timestamp || '2026-11-22T11:00:00.000000Z';
    e.key_id = keyId;
    return e;
  });
  entries.forEach((e, pos) => {
    e.index = N(pos);
    e.prev_entry = pos === 0 ? null : objectHash(DOMAIN.entry, entries[pos - 1]);
    hooks.entry?.(e, pos);
  });
  resign(doc, seedHex);
  const lines = entries.map((e, pos) => {
    const line = Object.create(null);
    line.entry = e;
    line.signature = key.sign(signingInput(DOMAIN.entry, e));
    hooks.signed?.(line, pos);
    return serialize(line, 0);
  });
  return { doc, lines, text: lines.map((l) => `${l}\n`).join('') };
}

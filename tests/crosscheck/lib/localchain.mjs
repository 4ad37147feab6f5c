// The optional local chain check of docs/PROOF_FORMAT.md §8 ("Local chain: given the
// local chain file, ..."), with the file format of §6.1. Written from the spec alone.
//
// §6.1 says which unterminated last line is an interrupted write: one that begins with the
// bytes {"entry":{"index":, or is a beginning of them (pot writes each line compact,
// ASCII only, beginning so). It is not part of the chain, whatever follows those bytes
// (its index, signature and UTF-8 are not checked). Any other unterminated last line
// makes the file damaged, so the check fails: a line with spaces or another key order is
// an entry only when it ends in a newline.
//
// Readings taken where §6.1 leaves room (each is probed by a case in cases.mjs):
// - A line is one JSON text (§1 rules) followed by "\n"; JSON whitespace inside or around
//   the object is allowed, as in any JSON text ("exactly" is read as naming the keys).
// - A file that is empty holds no entries.
import { JsonError, parse } from './json.mjs';
import { jcs } from './jcs.mjs';
import { verifySignature } from './ed25519.mjs';
import { mth } from './merkle.mjs';

const NL = 0x0a;

// What an interrupted write leaves begins with these bytes, or is a beginning of them.
export const LINE_START = Buffer.from('{"entry":{"index":');

// Whether an unterminated last line is what a writer that stopped mid-write leaves.
export function isInterruptedWrite(tail) {
  const k = Math.min(tail.length, LINE_START.length);
  return Buffer.from(tail.subarray(0, k)).equals(LINE_START.subarray(0, k));
}

// Splits the file into its lines (each without its "\n"). Returns {lines} or {error}.
export function splitChain(bytes) {
  const lines = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === NL) {
      lines.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  // A last line without a newline: a writer's interrupted append (not part of the chain),
  // or damage.
  if (start < bytes.length && !isInterruptedWrite(bytes.subarray(start)))
    return { error: `line ${lines.length} has no newline and does not begin with ${LINE_START} (damaged file)` };
  return { lines };
}

// The §8 local chain check. `shape` is the verifier's Shape (schema of §6.1 entries),
// `ctx` = {doc, pk, keyId, leaves, headHashes, partial, entryHash}. Returns null when the
// check passes, else the reason.
export function checkLocalChain(bytes, ctx, { Shape, checkEntryShape }) {
  const { doc, pk, keyId, leaves, headHashes, partial, entryHash, signingInput } = ctx;
  const split = splitChain(bytes);
  if (split.error) return split.error;
  const entries = [];
  for (let pos = 0; pos < split.lines.length; pos++) {
    let line;
    try {
      const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(split.lines[pos]);
      line = parse(text);
    } catch (e) {
      if (e instanceof JsonError || e instanceof TypeError) return `line ${pos} is not JSON (${e.message}): damaged file`;
      throw e;
    }
    try {
      const s = new Shape();
      s.keys(line, `line ${pos}`, ['entry', 'signature']);
      checkEntryShape(s, line.entry, `line ${pos}.entry`);
      s.signature(line.signature, `line ${pos}.signature`);
    } catch (e) {
      return `line ${pos} is not an entry (${e.message}): damaged file`;
    }
    const e = line.entry;
    if (Number(e.index.text) !== pos) return `line ${pos} holds the entry of index ${e.index.text}`;
    const expectPrev = pos === 0 ? null : entryHash(entries[pos - 1]);
    if (e.prev_entry !== expectPrev) return `line ${pos}: prev_entry is not the hash of the entry before`;
    if (e.key_id !== keyId) return `line ${pos}: key_id is not the signer's`;
    if (!verifySignature(pk, line.signature, signingInput(e))) return `line ${pos}: the signature does not verify by the signer`;
    entries.push(e);
  }
  // One head per model and size, across the file.
  const heads = new Map();
  for (const e of entries) {
    const k = `${e.model_id}\0${e.tree_size.text}`;
    if (heads.has(k) && heads.get(k) !== e.head_hash)
      return `equivocation: two entries name different heads for model ${JSON.stringify(e.model_id)} and tree_size ${e.tree_size.text}`;
    heads.set(k, e.head_hash);
  }
  // Each localchain receipt's entry at its index.
  for (const [i, r] of doc.anchors.entries()) {
    if (r.backend !== 'localchain') continue;
    const idx = Number(r.details.entry.index.text);
    if (idx >= entries.length) return `anchors[${i}]: the file has no entry of index ${idx}`;
    if (jcs(entries[idx]) !== jcs(r.details.entry)) return `anchors[${i}]: the file's entry of index ${idx} is another entry`;
  }
  // No entry of the proof's model names another head for one of the proof's sizes; in a
  // full proof, every entry of the model within the log has the root of its prefix.
  const headBySize = new Map(doc.tree_heads.map((th, j) => [Number(th.head.tree_size.text), headHashes[j]]));
  for (const [pos, e] of entries.entries()) {
    if (e.model_id !== doc.model_id) continue;
    const size = Number(e.tree_size.text);
    if (headBySize.has(size) && headBySize.get(size) !== e.head_hash)
      return `line ${pos} names another head of this model for tree_size ${size}: not the history that was anchored`;
    if (!partial && size <= leaves.length && mth(leaves.slice(0, size)).toString('hex') !== e.root_hash)
      return `line ${pos}: root_hash is not the root of the first ${size} records of this log`;
  }
  return null;
}


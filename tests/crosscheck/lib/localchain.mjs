// The optional local chain check of docs/PROOF_FORMAT.md §8 ("Local chain: given the
// local chain file, ..."), with the file format of §6.1. Written from the spec alone.
//
// Readings taken where §6.1 leaves room (each is probed by a case in cases.mjs):
// - A line is one JSON text (§1 rules) followed by "\n"; JSON whitespace inside or around
//   the object is allowed, as in any JSON text ("exactly" is read as naming the keys).
// - "A last line without a newline that is a prefix of such a line" is read on bytes: the
//   unterminated last line is a prefix when it is cut from some JSON text of the form
//   {"entry": ..., "signature": ...} (it may end inside a string, a number or a UTF-8
//   sequence). Such a line is not part of the chain, whatever it holds; any other
//   unterminated last line makes the file damaged, so the check fails.
// - A file that is empty holds no entries.
// - "whose signature verifies by the signer": under the proof's signer key. The entry's
//   own key_id is not compared with anything for entries of the file (§8 lists no such
//   check); a receipt's entry must carry the signer's key_id by §8.9.
import { JsonError, isObject, parse } from './json.mjs';
import { jcs } from './jcs.mjs';
import { verifySignature } from './ed25519.mjs';
import { mth } from './merkle.mjs';

const NL = 0x0a;

// True when the bytes are a prefix of UTF-8 text (they may end inside a sequence).
function utf8Prefix(bytes) {
  let cut = bytes.length;
  // Drop an incomplete sequence at the end: a lead byte followed by fewer continuation
  // bytes than it announces.
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    if (need > back) cut = bytes.length - back;
    break;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, cut));
  } catch {
    return null;
  }
}

// True when `text` can be extended into a JSON object text (RFC 8259, §1 rules as far as
// they can be seen in a prefix) whose keys are "entry" and "signature".
export function isLinePrefix(text) {
  // Try the text with closing material appended: a prefix of a valid object text can be
  // completed by finishing the current token and closing every open bracket. Rather than
  // enumerate completions, scan the prefix with a small tokenizer that accepts running
  // out of input anywhere.
  let i = 0;
  const n = text.length;
  const END = Symbol('end');
  const stack = [];
  const ws = () => {
    while (i < n && ' \t\r\n'.includes(text[i])) i++;
  };
  function str() {
    // at the opening quote
    i++;
    let out = '';
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) throw new JsonError('control character');
      if (c === 0x5c) {
        if (i + 1 >= n) throw END;
        const e = text[i + 1];
        if (e === 'u') {
          const h = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]*$/.test(h)) throw new JsonError('bad escape');
          if (h.length < 4) throw END;
          out += String.fromCharCode(parseInt(h, 16));
          i += 6;
        } else if ('"\\/bfnrt'.includes(e)) {
          out += e;
          i += 2;
        } else throw new JsonError('bad escape');
        continue;
      }
      out += text[i];
      i++;
    }
    throw END;
  }
  function num() {
    const m = /-?(0|[1-9][0-9]*)?(\.[0-9]*)?([eE][+-]?[0-9]*)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    i += r[0].length;
    if (i >= n) throw END; // the number may go on
    // A complete number must be well formed.
    if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(r[0])) throw new JsonError('bad number');
  }
  function value(depth) {
    ws();
    if (i >= n) throw END;
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth + 1 > 64) throw new JsonError('too deep');
      i++;
      stack.push(c);
      return c === '{' ? obj(depth + 1) : arr(depth + 1);
    }
    if (c === '"') return void str();
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    for (const w of ['true', 'false', 'null']) {
      if (w.startsWith(text.slice(i, i + w.length))) {
        if (i + w.length > n) throw END;
        i += w.length;
        return undefined;
      }
    }
    throw new JsonError('unexpected character');
  }
  function obj(depth, top = false) {
    const seen = new Set();
    ws();
    if (i >= n) throw END;
    if (text[i] === '}') {
      i++;
      stack.pop();
      return;
    }
    for (;;) {
      ws();
      if (i >= n) throw END;
      if (text[i] !== '"') throw new JsonError('expected a key');
      const k = str();
      if (seen.has(k)) throw new JsonError('duplicate key');
      seen.add(k);
      if (top && k !== 'entry' && k !== 'signature') throw new JsonError('not a key of a line');
      ws();
      if (i >= n) throw END;
      if (text[i] !== ':') throw new JsonError('expected :');
      i++;
      value(depth);
      ws();
      if (i >= n) throw END;
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        stack.pop();
        return;
      }
      throw new JsonError('expected , or }');
    }
  }
  function arr(depth) {
    ws();
    if (i >= n) throw END;
    if (text[i] === ']') {
      i++;
      stack.pop();
      return;
    }
    for (;;) {
      value(depth);
      ws();
      if (i >= n) throw END;
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        stack.pop();
        return;
      }
      throw new JsonError('expected , or ]');
    }
  }
  try {
    ws();
    if (i >= n) return true;
    if (text[i] !== '{') return false;
    i++;
    stack.push('{');
    obj(1, true);
    ws();
    return i >= n; // a complete object, perhaps with whitespace after it
  } catch (e) {
    if (e === END) return true;
    if (e instanceof JsonError) return false;
    throw e;
  }
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
  if (start < bytes.length) {
    // A last line without a newline: a writer's interrupted append, or damage.
    const tail = bytes.subarray(start);
    const text = utf8Prefix(tail);
    if (text === null || !isLinePrefix(text))
      return { error: `line ${lines.length} has no newline and is not a prefix of an entry line (damaged file)` };
  }
  return { lines };
}

// The §8 local chain check. `shape` is the verifier's Shape (schema of §6.1 entries),
// `ctx` = {doc, pk, keyId, leaves, headHashes, partial, entryHash}. Returns null when the
// check passes, else the reason.
export function checkLocalChain(bytes, ctx, { Shape, checkEntryShape }) {
  const { doc, pk, leaves, headHashes, partial, entryHash, signingInput } = ctx;
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

export { isObject };

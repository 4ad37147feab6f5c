// The optional local chain check of docs/PROOF_FORMAT.md §8 ("Local chain: given the
// local chain file, ..."), with the file format of §6.1. Written from the spec alone.
//
// Readings taken where §6.1 leaves room (each is probed by a case in cases.mjs):
// - A line is one JSON text (§1 rules) followed by "\n"; JSON whitespace inside or around
//   the object is allowed, as in any JSON text ("exactly" is read as naming the keys).
// - "A last line without a newline that is a prefix of such a line" is read on bytes: the
//   unterminated last line is a prefix when some line of the form {"entry": <entry>,
//   "signature": <signature>} (JSON, so any whitespace and key order, with the entry's
//   keys and value forms of §6.1) starts with it; it may end inside a key, a value or a
//   UTF-8 sequence, and may be a whole line but for the newline. Its index and signature
//   are not checked: it is not part of the chain. Any other unterminated last line makes
//   the file damaged, so the check fails.
// - A file that is empty holds no entries.
// - "whose signature verifies by the signer": under the proof's signer key. The entry's
//   own key_id is not compared with anything for entries of the file (§8 lists no such
//   check); a receipt's entry must carry the signer's key_id by §8.9.
import { JsonError, parse } from './json.mjs';
import { jcs } from './jcs.mjs';
import { verifySignature } from './ed25519.mjs';
import { mth } from './merkle.mjs';
import { nameProblem, textProblem, timestampMicros } from './verifier.mjs'; // a cycle: used at call time only

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

// Whether `text` is a prefix of a line of the form {"entry": <entry>, "signature":
// <signature>}: JSON (any whitespace, any key order) whose entry has the keys and value
// forms of §6.1 and whose signature is 128 lower-case hex. Each value read so far must be
// one that such a line can hold (a cut value one that can still become one). Returns null
// when it is such a prefix, else why not.
const ENTRY_KEYS = ['index', 'prev_entry', 'model_id', 'tree_size', 'root_hash', 'head_hash', 'timestamp', 'key_id'];
const TS_TEMPLATE = '0000-00-00T00:00:00.000000Z'; // 0 marks a digit
class Bad extends Error {}
const END = Symbol('end of the line so far');

export function linePrefixProblem(text) {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && ' \t\r\n'.includes(text[i])) i++;
  };
  const more = () => {
    if (i >= n) throw END;
  };
  const expect = (ch, what) => {
    ws();
    more();
    if (text[i] !== ch) throw new Bad(`expected ${what}`);
    i++;
  };
  // A string at text[i] === '"'. `partial(s)` checks a cut string, `whole(s)` a complete one.
  function string(partial, whole) {
    i++;
    let out = '';
    for (;;) {
      if (i >= n) {
        partial(out);
        throw END;
      }
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        whole(out);
        return out;
      }
      if (c < 0x20) throw new Bad('control character in a string');
      if (c === 0x5c) {
        if (i + 1 >= n) {
          partial(out);
          throw END;
        }
        const e = text[i + 1];
        if (e === 'u') {
          const h = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]*$/.test(h)) throw new Bad('invalid \\u escape');
          if (h.length < 4) {
            partial(out);
            throw END;
          }
          out += String.fromCharCode(parseInt(h, 16));
          i += 6;
        } else if (e in ESC) {
          out += ESC[e];
          i += 2;
        } else throw new Bad('invalid escape');
        continue;
      }
      out += text[i];
      i++;
    }
  }
  const hexValue = (digits) => () => {
    ws();
    more();
    if (text[i] !== '"') throw new Bad('a hex value is a string');
    string(
      (s) => {
        if (!new RegExp(`^[0-9a-f]{0,${digits}}$`).test(s)) throw new Bad(`not the start of ${digits} lower-case hex`);
      },
      (s) => {
        if (!new RegExp(`^[0-9a-f]{${digits}}$`).test(s)) throw new Bad(`not ${digits} lower-case hex`);
      },
    );
  };
  const nameValue = () => {
    ws();
    more();
    if (text[i] !== '"') throw new Bad('a name is a string');
    string(
      (s) => {
        // A cut may fall between the two halves of a surrogate pair.
        const t = /[\ud800-\udbff]$/.test(s) ? s.slice(0, -1) : s;
        const p = textProblem(t, 0, 256);
        if (p) throw new Bad(`not the start of a name (${p})`);
      },
      (s) => {
        const p = nameProblem(s);
        if (p) throw new Bad(`not a name (${p})`);
      },
    );
  };
  const timestampValue = () => {
    ws();
    more();
    if (text[i] !== '"') throw new Bad('a timestamp is a string');
    string(
      (s) => {
        if (s.length > TS_TEMPLATE.length) throw new Bad('not the start of a timestamp');
        for (let k = 0; k < s.length; k++) {
          const t = TS_TEMPLATE[k];
          if (t === '0' ? !/[0-9]/.test(s[k]) : s[k] !== t) throw new Bad('not the start of a timestamp');
        }
      },
      (s) => {
        if (timestampMicros(s) === null) throw new Bad('not a timestamp');
      },
    );
  };
  const intValue = (min) => () => {
    ws();
    more();
    const m = /[-+0-9.eE]*/y;
    m.lastIndex = i;
    const t = m.exec(text)[0];
    i += t.length;
    if (i >= n) {
      // Cut: what is there must start an integer spelling >= min.
      const ok = min === 0 ? /^(-0?|0|[1-9][0-9]*)?$/.test(t) : /^([1-9][0-9]*)?$/.test(t);
      if (!ok) throw new Bad(`not the start of an integer >= ${min}`);
      throw END;
    }
    if (!/^-?(0|[1-9][0-9]*)$/.test(t)) throw new Bad('not an integer spelling');
    const b = BigInt(t);
    if (b < BigInt(min) || b > 2n ** 53n - 1n) throw new Bad(`not an integer in [${min}, 2^53-1]`);
    return Number(b);
  };
  const prevValue = () => {
    ws();
    more();
    if (text[i] === 'n') {
      const w = text.slice(i, i + 4);
      if (!'null'.startsWith(w)) throw new Bad('invalid literal');
      if (w.length < 4) throw END;
      i += 4;
      return null;
    }
    return hexValue(64)();
  };
  // An object whose keys are `keys` (each at most once), each value read by fields[key].
  function object(keys, fields, onComplete) {
    expect('{', 'an object');
    const seen = new Map();
    ws();
    more();
    if (text[i] === '}') {
      i++;
      return onComplete(seen);
    }
    for (;;) {
      ws();
      more();
      if (text[i] !== '"') throw new Bad('expected a key');
      const startsKey = (s) => keys.some((k) => k.startsWith(s) && !seen.has(k));
      const k = string(
        (s) => {
          if (!startsKey(s)) throw new Bad(`no key starts ${JSON.stringify(s)}`);
        },
        (s) => {
          if (!keys.includes(s)) throw new Bad(`unknown key ${JSON.stringify(s)}`);
          if (seen.has(s)) throw new Bad(`duplicate key ${JSON.stringify(s)}`);
        },
      );
      expect(':', ':');
      seen.set(k, fields[k]());
      ws();
      more();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return onComplete(seen);
      }
      throw new Bad('expected , or }');
    }
  }
  const entryFields = {
    index: intValue(0),
    prev_entry: prevValue,
    model_id: nameValue,
    tree_size: intValue(1),
    root_hash: hexValue(64),
    head_hash: hexValue(64),
    timestamp: timestampValue,
    key_id: hexValue(64),
  };
  const entryValue = () =>
    object(ENTRY_KEYS, entryFields, (seen) => {
      for (const k of ENTRY_KEYS) if (!seen.has(k)) throw new Bad(`the entry has no ${k}`);
      if ((seen.get('index') === 0) !== (seen.get('prev_entry') === null))
        throw new Bad('prev_entry is null exactly at index 0');
    });
  try {
    object(['entry', 'signature'], { entry: entryValue, signature: hexValue(128) }, (seen) => {
      if (!seen.has('entry') || !seen.has('signature')) throw new Bad('a line has an entry and a signature');
    });
    ws();
    if (i < n) throw new Bad('data after the line\'s object');
    return null; // a whole line, but for its newline
  } catch (e) {
    if (e === END) return null;
    if (e instanceof Bad) return e.message;
    throw e;
  }
}
const ESC = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

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
    if (text === null) return { error: `line ${lines.length} has no newline and is not UTF-8 (damaged file)` };
    const p = linePrefixProblem(text);
    if (p) return { error: `line ${lines.length} has no newline and is not a prefix of an entry line: ${p} (damaged file)` };
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


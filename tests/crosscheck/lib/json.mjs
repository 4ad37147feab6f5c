// Strict JSON (RFC 8259) parser for docs/PROOF_FORMAT.md §1.
//
// JSON.parse cannot see duplicate keys or how a number was spelled, so this parser
// keeps every number as a Num holding its source text and its double value, refuses
// a byte order mark, duplicate keys, NaN/Infinity, trailing data, nesting deeper than
// MAX_DEPTH, numbers that overflow to infinity or underflow to zero, a number spelled
// as an integer beyond ±(2^53−1) wherever it appears, and lone surrogates (which have
// no UTF-8 encoding, so no JCS form).

export const MAX_DEPTH = 64;
export const MAX_BYTES = 1024 * 1024 * 1024;
export const MAX_SAFE_INTEGER = 2n ** 53n - 1n;
const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;

export class JsonError extends Error {}

export class Num {
  constructor(text, value) {
    this.text = text;
    this.value = value;
  }
  // An integer as §1 spells it: optional minus, digits, no fraction, no exponent.
  get isIntegerText() {
    return INTEGER_TEXT.test(this.text);
  }
  get bigint() {
    return BigInt(this.text);
  }
}

export function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Num);
}

export function decodeUtf8(bytes) {
  if (bytes.length > MAX_BYTES) throw new JsonError('document larger than 1 GiB');
  try {
    // ignoreBOM: keep a leading U+FEFF so the parser sees (and refuses) it.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new JsonError('not UTF-8');
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

export function parse(text) {
  let i = 0;
  const n = text.length;

  function fail(msg) {
    throw new JsonError(`${msg} at offset ${i}`);
  }
  function ws() {
    while (i < n && WS.has(text.charCodeAt(i))) i++;
  }
  function value(depth) {
    ws();
    if (i >= n) fail('unexpected end of document');
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth + 1 > MAX_DEPTH) fail(`nested too deeply (more than ${MAX_DEPTH} levels)`);
      return c === '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    if (text.startsWith('NaN', i) || text.startsWith('Infinity', i)) fail('contains NaN or Infinity');
    fail(`unexpected character ${JSON.stringify(c)}`);
  }
  function literal(word, v) {
    if (!text.startsWith(word, i)) fail('invalid literal');
    i += word.length;
    return v;
  }
  function number() {
    const m = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r || r[0] === '-') {
      if (text.startsWith('-Infinity', i)) fail('contains -Infinity');
      fail('invalid number');
    }
    const t = r[0];
    i += t.length;
    const v = Number(t);
    if (!Number.isFinite(v)) fail(`number ${t} overflows a double`);
    if (v === 0 && /[1-9]/.test(t.replace(/[eE].*$/, ''))) fail(`number ${t} underflows to zero`);
    // §1: a number written as an integer is within ±(2^53−1) wherever it appears (a
    // larger value is written with an exponent).
    if (INTEGER_TEXT.test(t) && t.replace('-', '').length >= 16) {
      const b = BigInt(t);
      if (b > MAX_SAFE_INTEGER || b < -MAX_SAFE_INTEGER) fail(`number ${t} is written as an integer beyond ±(2^53−1)`);
    }
    return new Num(t, v);
  }
  function hex4() {
    const h = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('invalid \\u escape');
    i += 4;
    return parseInt(h, 16);
  }
  function string() {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        break;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        i++;
        const e = text[i++];
        if (e === '"') out += '"';
        else if (e === '\\') out += '\\';
        else if (e === '/') out += '/';
        else if (e === 'b') out += '\b';
        else if (e === 'f') out += '\f';
        else if (e === 'n') out += '\n';
        else if (e === 'r') out += '\r';
        else if (e === 't') out += '\t';
        else if (e === 'u') out += String.fromCharCode(hex4());
        else fail('invalid escape');
        start = i;
        continue;
      }
      i++;
    }
    if (!out.isWellFormed()) fail('string holds a lone surrogate');
    return out;
  }
  function array(depth) {
    i++;
    const out = [];
    ws();
    if (text[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(depth));
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return out;
      }
      fail('expected , or ]');
    }
  }
  function object(depth) {
    i++;
    const out = Object.create(null);
    const seen = new Set();
    ws();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') fail('expected a string key');
      const k = string();
      if (seen.has(k)) fail(`duplicate key ${JSON.stringify(k)}`);
      seen.add(k);
      ws();
      if (text[i] !== ':') fail('expected :');
      i++;
      out[k] = value(depth);
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return out;
      }
      fail('expected , or }');
    }
  }

  // §1: UTF-8 without a byte order mark.
  if (text.charCodeAt(0) === 0xfeff) fail('starts with a byte order mark');
  const v = value(0);
  ws();
  if (i < n) fail('trailing data after the document');
  return v;
}

export function parseBytes(bytes) {
  return parse(decodeUtf8(bytes));
}

// Plain JS value (numbers as doubles) from a parsed tree, for building test documents.
export function toPlain(v) {
  if (v instanceof Num) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (isObject(v)) {
    const o = Object.create(null);
    for (const k of Object.keys(v)) o[k] = toPlain(v[k]);
    return o;
  }
  return v;
}

// RFC 8785 JSON Canonicalization Scheme over trees from json.mjs (or plain JS values).
import { Num, isObject } from './json.mjs';

function str(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

function num(v) {
  if (!Number.isFinite(v)) throw new Error('JCS: non-finite number');
  // ECMAScript Number::toString; -0 is written 0.
  return Object.is(v, -0) ? '0' : String(v);
}

export function jcs(v) {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (v instanceof Num) return num(v.value);
  if (typeof v === 'number') return num(v);
  if (typeof v === 'string') {
    if (!v.isWellFormed()) throw new Error('JCS: lone surrogate');
    return str(v);
  }
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  if (isObject(v)) {
    // Sorted by UTF-16 code units: JS's default string order.
    const keys = Object.keys(v).sort();
    return '{' + keys.map((k) => str(k) + ':' + jcs(v[k])).join(',') + '}';
  }
  throw new Error(`JCS: cannot canonicalise ${typeof v}`);
}

export function jcsBytes(v) {
  return Buffer.from(jcs(v), 'utf8');
}

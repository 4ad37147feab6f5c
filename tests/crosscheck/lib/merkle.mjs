// RFC 9162 §2.1 Merkle trees over pre-hashed leaves (docs/PROOF_FORMAT.md §4).
import crypto from 'node:crypto';

export const sha256 = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const ONE = Buffer.from([1]);
const node = (l, r) => sha256(ONE, l, r);

// Largest power of two smaller than n (n > 1).
function split(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function mth(leaves) {
  const n = leaves.length;
  if (n === 0) return sha256(Buffer.alloc(0));
  if (n === 1) return leaves[0];
  const k = split(n);
  return node(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

// PATH(m, D[n]) of RFC 9162 §2.1.3.1.
export function inclusionPath(m, leaves) {
  const n = leaves.length;
  if (n <= 1) return [];
  const k = split(n);
  if (m < k) return [...inclusionPath(m, leaves.slice(0, k)), mth(leaves.slice(k))];
  return [...inclusionPath(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

// PROOF(m, D[n]) of RFC 9162 §2.1.4.1.
export function consistencyProof(m, leaves) {
  function sub(m, D, b) {
    const n = D.length;
    if (m === n) return b ? [] : [mth(D)];
    const k = split(n);
    if (m <= k) return [...sub(m, D.slice(0, k), b), mth(D.slice(k))];
    return [...sub(m - k, D.slice(k), false), mth(D.slice(0, k))];
  }
  return sub(m, leaves, true);
}

const isBitSet = (x) => (x & 1n) === 1n;

// RFC 9162 §2.1.3.2. Sizes as BigInt to stay exact.
export function verifyInclusion(leafIndex, treeSize, leafHash, path, root) {
  let fn = BigInt(leafIndex);
  let sn = BigInt(treeSize) - 1n;
  if (fn > sn) return false;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0n) return false;
    if (isBitSet(fn) || fn === sn) {
      r = node(p, r);
      if (!isBitSet(fn)) {
        while (!isBitSet(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && r.equals(root);
}

// RFC 9162 §2.1.4.2.
export function verifyConsistency(first, second, firstHash, secondHash, path) {
  let f = BigInt(first);
  const s = BigInt(second);
  if (f > s) return false;
  if (f === s) return path.length === 0 && firstHash.equals(secondHash);
  if (f === 0n) return path.length === 0; // an empty tree is consistent with any tree
  if (path.length === 0) return false;
  let p = [...path];
  if ((f & (f - 1n)) === 0n) p = [firstHash, ...p];
  let fn = f - 1n;
  let sn = s - 1n;
  while (isBitSet(fn)) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = p[0];
  let sr = p[0];
  for (const c of p.slice(1)) {
    if (sn === 0n) return false;
    if (isBitSet(fn) || fn === sn) {
      fr = node(c, fr);
      sr = node(c, sr);
      if (!isBitSet(fn)) {
        while (!isBitSet(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = node(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return fr.equals(firstHash) && sr.equals(secondHash) && sn === 0n;
}

// Ed25519 key and signature validity (docs/PROOF_FORMAT.md §2), with BigInt arithmetic
// for the rules Node's OpenSSL does not apply, and crypto.verify for the equation.
import crypto from 'node:crypto';

export const P = 2n ** 255n - 19n;
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a, m = P) {
  const r = a % m;
  return r >= 0n ? r : r + m;
}
function pow(b, e, m = P) {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}
function inv(a) {
  return pow(a, P - 2n);
}

export const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

// The fourteen small-order encodings of §2 (libsodium's list).
export const SMALL_ORDER_ENCODINGS = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

function leInt(bytes) {
  let r = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) r = (r << 8n) | BigInt(bytes[i]);
  return r;
}

// Extended coordinates (X, Y, Z, T) on -x^2 + y^2 = 1 + d x^2 y^2.
const IDENTITY = [0n, 1n, 1n, 0n];

function add(p1, p2) {
  const [X1, Y1, Z1, T1] = p1;
  const [X2, Y2, Z2, T2] = p2;
  const A = mod((Y1 - X1) * (Y2 - X2));
  const B = mod((Y1 + X1) * (Y2 + X2));
  const C = mod(2n * D * T1 * T2);
  const Dd = mod(2n * Z1 * Z2);
  const E = B - A;
  const F = Dd - C;
  const G = Dd + C;
  const H = B + A;
  return [mod(E * F), mod(G * H), mod(F * G), mod(E * H)];
}

function mul(k, pt) {
  let r = IDENTITY;
  let q = pt;
  while (k > 0n) {
    if (k & 1n) r = add(r, q);
    q = add(q, q);
    k >>= 1n;
  }
  return r;
}

function isIdentity(pt) {
  const [X, Y, Z] = pt;
  return mod(X) === 0n && mod(Y - Z) === 0n;
}

// Decode per RFC 8032 §5.1.3 with the §2 rules 1-3; returns {point} or {error}.
export function decodePoint(bytes) {
  if (bytes.length !== 32) return { error: 'not 32 bytes' };
  const raw = leInt(bytes);
  const sign = raw >> 255n;
  const y = raw & ((1n << 255n) - 1n);
  if (y >= P) return { error: 'y >= p (non-canonical encoding)' };
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) {
    // x is a root
  } else if (vx2 === mod(-u)) {
    x = mod(x * SQRT_M1);
  } else {
    return { error: 'not on the curve' };
  }
  if (x === 0n && sign === 1n) return { error: 'x = 0 with the sign bit set' };
  if ((x & 1n) !== sign) x = P - x;
  return { point: [x, y, 1n, mod(x * y)] };
}

// §2 public key validity: null when valid, else the reason.
export function publicKeyProblem(bytes) {
  const r = decodePoint(bytes);
  if (r.error) return r.error;
  if (isIdentity(mul(8n, r.point))) return 'small order';
  if (!isIdentity(mul(L, r.point))) return 'not in the prime-order subgroup';
  return null;
}

export function publicKeyProblemHex(hex) {
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) return 'not 64 lower-case hex';
  return publicKeyProblem(Buffer.from(hex, 'hex'));
}

// §8: a trusted key, given out of band, may be written in either case (it is compared
// with the signer's as 32 bytes), and must be a valid key (§2). Returns {bytes} or {error}.
export function parseTrustedKey(hex) {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) return { error: 'not 64 hex digits' };
  const bytes = Buffer.from(hex, 'hex');
  const p = publicKeyProblem(bytes);
  return p ? { error: p } : { bytes };
}

// §2 signature validity over msg under a valid key (both as bytes / hex).
export function verifySignature(publicKeyHex, sigHex, msg) {
  if (typeof sigHex !== 'string' || !/^[0-9a-f]{128}$/.test(sigHex)) return false;
  const sig = Buffer.from(sigHex, 'hex');
  const S = leInt(sig.subarray(32));
  if (S >= L) return false;
  const Rhex = sigHex.slice(0, 64);
  const Ry = leInt(sig.subarray(0, 32)) & ((1n << 255n) - 1n);
  if (Ry >= P) return false;
  if (SMALL_ORDER_ENCODINGS.includes(Rhex)) return false;
  const key = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKeyHex, 'hex').toString('base64url') },
    format: 'jwk',
  });
  return crypto.verify(null, msg, key, sig);
}

// Signing (for building test documents only): seed hex -> {publicKey, sign(msg)}.
export function keyFromSeed(seedHex) {
  const seed = Buffer.from(seedHex, 'hex');
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const priv = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const pub = crypto.createPublicKey(priv).export({ format: 'jwk' });
  const publicKey = Buffer.from(pub.x, 'base64url').toString('hex');
  return { publicKey, sign: (msg) => crypto.sign(null, msg, priv).toString('hex') };
}

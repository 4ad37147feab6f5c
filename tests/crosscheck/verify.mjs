#!/usr/bin/env node
// Independent verifier of pot proofs, written from docs/PROOF_FORMAT.md alone.
//
//   node tests/crosscheck/verify.mjs PROOF.json [--trusted-key HEX] [--now TIMESTAMP] [--local-chain FILE] [--json]
//
// Exit 0: the proof verifies. 1: it does not (one line says which check failed and why).
// 2: usage error or bad input (an invalid trusted key, a --now that is not a timestamp). Several PROOF files may be given (one line each; exit 0 only when all
// verify), which saves a test suite a node start per file.
import fs from 'node:fs';
import { parseNow, parseTrustedKey, verifyProof } from './lib/verifier.mjs';

const USAGE =
  'usage: node verify.mjs PROOF.json [PROOF.json ...] [--trusted-key HEX] [--now YYYY-MM-DDTHH:MM:SS.ffffffZ] [--local-chain FILE] [--json]';

function usage(msg) {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const files = [];
let trustedKey = null;
let now = null;
let localChainFile = null;
let json = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--json') json = true;
  else if (a === '--trusted-key') {
    if (i + 1 >= args.length) usage('--trusted-key needs a value');
    trustedKey = args[++i];
  } else if (a === '--now') {
    if (i + 1 >= args.length) usage('--now needs a value');
    now = args[++i];
  } else if (a === '--local-chain') {
    if (i + 1 >= args.length) usage('--local-chain needs a value');
    localChainFile = args[++i];
  } else if (a === '-h' || a === '--help') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  } else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else files.push(a);
}
if (files.length === 0) usage('no proof file');
// Bad input is refused before anything is verified (§8): a clock that is not a §1
// timestamp, a trusted key that is not a valid key (§2; either case, compared as bytes).
if (now !== null && parseNow(now) === null) usage(`--now: not a timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ: ${now}`);
if (trustedKey !== null) {
  const t = parseTrustedKey(trustedKey);
  if (t.error) usage(`--trusted-key is not a valid Ed25519 public key (${t.error})`);
}
let localChain = null;
if (localChainFile !== null) {
  try {
    localChain = fs.readFileSync(localChainFile);
  } catch (e) {
    usage(`cannot read ${localChainFile}: ${e.message}`);
  }
}
let allOk = true;
for (const file of files) {
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  const r = verifyProof(bytes, { trustedKey, now, localChain });
  allOk = allOk && r.ok;
  report(file, r);
}
process.exit(allOk ? 0 : 1);

function report(file, r) {
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        ...(files.length > 1 ? { file } : {}),
        ok: r.ok,
        failed_check: r.failed_check,
        check_name: r.check_name,
        reason: r.reason,
        trusted_key: trustedKey !== null,
        heads: r.heads,
      })}\n`,
    );
  } else if (r.ok) {
    const how = trustedKey !== null
      ? 'signed by the trusted key'
      : 'self-consistent only: no trusted key was given, so who signed it is not proven';
    const which = localChain !== null ? 'checks 1-11 and the local chain' : 'checks 1-11';
    process.stdout.write(`OK: ${file} verifies (${which}; ${how})\n`);
    for (const h of r.heads) process.stdout.write(`  head tree_size=${h.tree_size}: ${h.strength}\n`);
  } else {
    process.stdout.write(`FAIL: ${file}: check ${r.failed_check} (${r.check_name}): ${r.reason}\n`);
  }
}

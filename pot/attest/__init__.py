"""Renderings of a pot proof in other ecosystems' formats: OpenSSF model signing (:mod:`pot.attest.oms`).

Each is produced from, and points at, the signed log; pot's own proof stays the one that shows completeness
and order (docs/MODEL_SIGNING.md).
"""

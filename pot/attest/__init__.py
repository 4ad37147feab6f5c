"""Renderings of a proof for other ecosystems: in-toto Statements in DSSE envelopes with SLSA provenance
(:mod:`pot.attest.intoto`, docs/ATTESTATIONS.md) and OpenSSF model signing (:mod:`pot.attest.oms`,
docs/MODEL_SIGNING.md).

Each is derived from one proof and names its digest; the proof stays the evidence of completeness and order.
"""

"""Renderings of a proof for other ecosystems: in-toto Statements in DSSE envelopes (with SLSA provenance).

Each is derived from one proof and names its digest; the proof stays the evidence of completeness and order.
See docs/ATTESTATIONS.md.
"""

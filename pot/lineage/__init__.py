"""Runs and lineage: the run registry, the lineage graph, Lamport order across nodes, lineage events, promotion
gates and environment capture. Events live in the same signed log as training records (pot.log)."""

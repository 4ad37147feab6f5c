"""Structure-aware fuzzing of the proof parser, the verifier and the CLI's JSON arguments (hypothesis).

Each fuzz test starts from real proofs (pot's own recorder writing a temporary store, and the v1 corpus) or real
CLI invocations against a temporary store, and mutates them structurally. The properties: nothing but a
:class:`pot.errors.PotError` escapes, no check of the verifier breaks on the input, nothing hangs, a document whose
content changed never verifies, and the CLI exits with a documented code (0-3), never 70.

The runs are derandomized (the same examples every time, no example database), so CI is reproducible and a
failure here is a failure on every machine. ``POT_FUZZ_LONG=1`` multiplies the number of examples for a longer
search; ``python -m tests.fuzz.survey`` runs the mutators without stopping at the first failure and prints every
distinct failure with the place it is raised, for whoever fixes them.
"""

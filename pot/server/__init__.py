"""``pot serve``: a team's log server (docs/SERVER.md).

One organisation key signs every model's tree heads; recorders and scripts send record batches over HTTP and read
logs, heads and proofs back. The server keeps no state of its own beyond the store (SQLite or PostgreSQL), so several
server processes may share one PostgreSQL database: appends to one model's log are serialised by the database.

Modules: :mod:`pot.server.tokens` (bearer tokens, kept hashed in the store), :mod:`pot.server.service` (what the
routes do, free of HTTP), :mod:`pot.server.app` (the REST API, FastAPI), :mod:`pot.server.remote` (``pot --server
URL VERB``: the read verbs over HTTP, standard library only). Only ``app`` needs the ``[server]`` extra.
"""

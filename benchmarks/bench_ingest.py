#!/usr/bin/env python3
"""Ingest through ``pot serve``: 8 client processes recording through one server, on this machine.

    python benchmarks/bench_ingest.py [--clients 8] [--records 5000] [--backend sqlite,postgresql] [--workers 1]
                                      [--json]

For each backend behind the server (a SQLite store, and a real PostgreSQL started here with fsync on), in one run:

1. local: ``--clients`` processes record ``--records`` checkpoints each into their own local SQLite store (the
   embedded default), all at once. Measured: the training thread's time per ``record_training_checkpoint`` call.
2. through the server: the same processes, the same records, with ``POT_SERVER_URL`` set (each its own spool), to
   one ``pot serve`` on that backend. Measured: the training thread's time per call (the record is acknowledged
   once it is fsync'd in the spool), and the total ingest rate: all records / the time from the start signal until
   the last client's ``close()`` returned with nothing left in its spool (every record sequenced, stored and
   signed over by the server).
3. the same with ``POT_SPOOL_FSYNC=0``: the spool as durable as the local store (a killed process loses nothing,
   a power cut may lose the last records) instead of one fsync per record.

Reported: records/s in total through the server (target: at least 10,000/s), and the per-record cost on the
training thread through the server relative to local recording in the same run (target: within 2x). The server,
the database and the clients share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def client(records: int, model_id: str) -> None:
    """One client process: wait for "go" on stdin, record, close; print what it measured as one JSON line."""
    from pot import ProvenanceConfig, ProvenanceRecorder

    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, anchor_timeout=600.0, batch_size=1000))
    recorder.record_training_checkpoint(model_hash="0" * 64, metrics={"loss": 1.0}, epoch=0, model_id=model_id)
    recorder.flush()  # warm: the first record opens files and connections
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for epoch in range(1, records + 1):
        recorder.record_training_checkpoint(model_hash=f"{epoch:064x}", metrics={"loss": 1.0 / epoch, "acc": 0.5},
                                            epoch=epoch, model_id=model_id)
    recorded = time.perf_counter() - started
    recorder.close()
    done = time.perf_counter() - started
    print(json.dumps({"record_seconds": recorded, "done_seconds": done, "records": records,
                      "left": recorder.left_in_spool}), flush=True)


def run_clients(count: int, records: int, env: dict[str, str], workdir: Path, tag: str) -> dict[str, float]:
    processes = []
    for i in range(count):
        client_env = {**env, "POT_NODE_ID": f"client-{i}", "POT_HOME": str(workdir / f"{tag}-store-{i}"),
                      "POT_SPOOL_DIR": str(workdir / f"{tag}-spool-{i}")}
        processes.append(subprocess.Popen([sys.executable, __file__, "--client", str(records), f"bench-{tag}-{i}"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=client_env,
                                          cwd=workdir))
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=3600)
        assert process.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    assert all(r["left"] == 0 for r in results), "records left in a spool"
    total = sum(r["records"] for r in results)
    per_record = statistics.mean(r["record_seconds"] / r["records"] for r in results)
    return {"records": total, "wall_seconds": wall, "records_per_second": total / wall,
            "per_record_us": per_record * 1e6}


def run(backends: list[str], clients: int, records: int, workers: int) -> dict[str, dict[str, float]]:
    from tests.support.postgres import PostgresServer
    from tests.support.served import Served, clean_env, prepare

    out: dict[str, dict[str, float]] = {}
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="pot-bench-ingest-") as tmp:
            workdir = Path(tmp)
            postgres = PostgresServer(fsync=True) if backend == "postgresql" else None
            try:
                if postgres is not None:
                    postgres.start()
                database = postgres.create_database() if postgres is not None else None
                root = workdir / "server-store"
                token = prepare(root, database)
                local = run_clients(clients, records, clean_env(), workdir, "local")
                flags = ("--rate", "1000000", "--burst", "1000000", "--workers", str(workers))
                with Served(root, database, flags=flags) as served:
                    env = clean_env(POT_SERVER_URL=served.url, POT_SERVER_TOKEN=token)
                    remote = run_clients(clients, records, env, workdir, "remote")
                    unsynced = run_clients(clients, records, {**env, "POT_SPOOL_FSYNC": "0"}, workdir, "nosync")
            finally:
                if postgres is not None:
                    postgres.close()
        out[backend] = {"clients": clients, "records": remote["records"],
                        "server_records_per_second": remote["records_per_second"],
                        "server_wall_seconds": remote["wall_seconds"],
                        "local_records_per_second": local["records_per_second"],
                        "local_per_record_us": local["per_record_us"],
                        "remote_per_record_us": remote["per_record_us"],
                        "per_record_ratio": remote["per_record_us"] / local["per_record_us"],
                        "nosync_records_per_second": unsynced["records_per_second"],
                        "nosync_per_record_us": unsynced["per_record_us"],
                        "nosync_per_record_ratio": unsynced["per_record_us"] / local["per_record_us"]}
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--records", type=int, default=5000, help="records per client")
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=1, help="pot serve --workers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    results = run(args.backend.split(","), args.clients, args.records, args.workers)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for backend, r in results.items():
        print(f"server on {backend}: {r['clients']} clients, {r['records']} records in {r['server_wall_seconds']:.1f} s"
              f" = {r['server_records_per_second']:,.0f} records/s in total (target >= 10,000)")
        print(f"  training thread per record: {r['remote_per_record_us']:.0f} us through the server vs "
              f"{r['local_per_record_us']:.0f} us local SQLite = {r['per_record_ratio']:.2f}x (target <= 2x)")
        print(f"  with POT_SPOOL_FSYNC=0 (the local store's durability): {r['nosync_per_record_us']:.0f} us per "
              f"record = {r['nosync_per_record_ratio']:.2f}x, {r['nosync_records_per_second']:,.0f} records/s")


if __name__ == "__main__":
    main()

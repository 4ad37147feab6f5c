"""One rank of a two-process DistributedDataParallel run (gloo, CPU) on the digits data, recording into one store.

Usage: python -m tests.support.ddp_worker RANK WORLD_SIZE PORT STORE MODEL_ID
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.integrations.torch import model_hash


def main() -> None:
    rank, world, port, store, model_id = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)  # same initial weights on every rank
    torch.set_num_threads(1)
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)[rank::world]  # each rank its own shard
    y = torch.tensor(digits.target)[rank::world]
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=store))
    step = 0
    for epoch in range(3):
        for start in range(0, len(x), 50):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[start:start + 50]), y[start:start + 50])
            loss.backward()  # gradients are averaged across ranks here
            optimizer.step()
            step += 1
            recorder.record_step(step, {"loss": loss.item()}, model_id, epoch=epoch)
        recorder.record_training_checkpoint(model_hash=model_hash(model), metrics={"loss": loss.item()},
                                            epoch=epoch, model_id=model_id, step=step)
    if rank == 0:
        with torch.no_grad():
            accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
        recorder.record_validation(model_hash=model_hash(model), validator_id="rank0-shard",
                                   validation_result={"accuracy": accuracy}, model_id=model_id)
    recorder.close()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""A training script run by ``torchrun --nproc_per_node=2`` in tests/integrations/test_ddp.py.

The plain-loop script a user writes, unchanged for DDP: every rank calls tercet.init and
collect_metrics alike. One launch runs two phases, because each launch costs three interpreters
importing torch:

1. on local disk, ``tercet.init`` before the process group exists (the ranks meet by the key
   torchrun's variables give): two epochs, every pass complete, embeddings reduced, run closed;
2. a Hugging Face Trainer with TercetCallback on local disk (the Trainer shards its batches;
   the callback's passes shard the tables): one epoch, train and eval split collected;
3. on the S3 server, ``tercet.init`` with the group initialised (the run is found by broadcast):
   rank 1 kills itself outright (SIGKILL) halfway through the first val pass.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

import tercet


def to_pair(row: dict[str, Any]) -> tuple[Any, Any]:
    return torch.tensor(row["features"], dtype=torch.float32), row["label"]


def train(root: str, tables: dict[str, str], epochs: int, kill_rank: int) -> tercet.Run:
    run = tercet.init(project="ddp", run="ddp", parameters={"lr": 0.1, "ranks": 2}, root=root)
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=timedelta(seconds=60))
    rank = dist.get_rank()
    train = tercet.Table.open(tables["train"])
    val = tercet.Table.open(tables["val"])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    data = train.map(to_pair)
    sampler: DistributedSampler[Any] = DistributedSampler(
        data, shuffle=True, seed=0
    )  # pads the odd table by repeating

    def maybe_die(batch: Any, outputs: Any) -> dict[str, Any]:
        if rank == kill_rank:
            os.kill(os.getpid(), signal.SIGKILL)
        return {}

    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in DataLoader(data, batch_size=4, sampler=sampler):
            loss = torch.nn.functional.cross_entropy(ddp(x), y)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            tercet.log({"loss": float(loss), "rank": rank})
        collectors = [tercet.ClassificationCollector(), tercet.EmbeddingCollector("0")]
        tercet.collect_metrics(train.map(to_pair), collectors, model, batch_size=4,
                               constants={"lr": 0.1})  # fmt: skip
        tercet.collect_metrics(val.map(to_pair), [*collectors, maybe_die], model, batch_size=4)
        if kill_rank >= 0:  # only the survivor gets here
            time.sleep(120)  # torchrun stops this rank once the other one died
    run.wait()
    dist.barrier()
    if rank == 0:
        run.reduce_embeddings(method="pca", dims=2, progress=False)
    run.close()
    return run


class Tiny(torch.nn.Module):
    """What the Trainer needs of a model: keyword inputs, a loss when given labels."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                       torch.nn.Linear(8, 3))  # fmt: skip

    def forward(self, features: Any, labels: Any = None) -> dict[str, Any]:
        logits = self.net(features)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


def train_hugging_face(root: str, tables: dict[str, str]) -> None:
    import datasets  # type: ignore[import-untyped]
    import transformers

    from tercet.integrations.huggingface import TercetCallback

    opened = {k: tercet.Table.open(url) for k, url in tables.items()}
    data = {
        k: datasets.Dataset.from_dict(t.to_arrow(["example_id", "features", "label"]).to_pydict())
        for k, t in opened.items()
    }
    args = transformers.TrainingArguments(
        output_dir=os.path.join(root, "hf-out"), num_train_epochs=1,
        per_device_train_batch_size=4, per_device_eval_batch_size=4, eval_strategy="epoch",
        save_strategy="no", logging_steps=1, report_to=[], use_cpu=True, disable_tqdm=True,
        seed=0, ddp_backend="gloo",
    )  # fmt: skip
    trainer = transformers.Trainer(model=Tiny(), args=args, train_dataset=data["train"],
                                   eval_dataset=data["val"])  # fmt: skip
    callback = TercetCallback.attach(
        trainer, train_table=opened["train"], eval_table=opened["val"], embedding_layer="net.1",
        project="hf-ddp", run_name="hf", root=root, reduce="pca", dims=2,
    )  # fmt: skip
    trainer.train()
    assert callback.run is not None
    callback.run.close()


def main() -> None:
    torch.set_num_threads(1)
    phases = json.loads(os.environ["DDP_PHASES"])
    train(phases["local"]["root"], phases["local"]["tables"], epochs=2, kill_rank=-1)
    train_hugging_face(phases["local"]["root"], phases["local"]["tables"])
    train(phases["s3"]["root"], phases["s3"]["tables"], epochs=1, kill_rank=1)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""Trains a dropout-free model on the tiny names data, one or several processes (under torchrun).

    torchrun --nproc_per_node=N tests/ddp_worker.py OUT.pt [MICRO_BATCH_SIZE]
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import distributed  # noqa: E402
from conftest import small_model, tiny_world  # noqa: E402
from dataset import CharCorruptionDataset, NameDataset  # noqa: E402
from trainer import Trainer, TrainerConfig  # noqa: E402

if __name__ == "__main__":
    if distributed.launched_by_torchrun():
        distributed.init("cpu")
    torch.manual_seed(0)
    documents, people = tiny_world()
    corpus = CharCorruptionDataset("\n".join(documents), 48)
    names = NameDataset(corpus, "".join(f"Where was {n} born?\t{p}\n" for n, p in people))  # 48 lines
    model = small_model(corpus.vocab_size, block_size=48)
    config = TrainerConfig(max_epochs=2, batch_size=8, learning_rate=6e-3, lr_decay=True, warmup_tokens=512,
                           final_tokens=2 * 48 * 47, progress=False,
                           micro_batch_size=int(sys.argv[2]) if len(sys.argv) > 2 else None)
    trainer = Trainer(model, names, None, config)
    trainer.train()
    if distributed.is_main():
        torch.save({"params": model.state_dict(), "tokens": trainer.tokens, "step": trainer.step}, sys.argv[1])
    distributed.shutdown(wait_for_others=True)

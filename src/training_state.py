"""The resumable training state: what a run keeps on disk so that the same command continues it.

`<params>.state` holds the model, optimizer, token counter, position in the epoch and RNG states,
with a fingerprint of everything that defines the run (settings, model size, vocabulary, data
digests): a state from another run is refused up front, naming what differs. `<params>.lock`
keeps a second run off the same files while the first is alive. SIGINT/SIGTERM during training
stop it after the current step with the state saved; during the final save they are held until
the params are on disk.
"""
import contextlib
import errno
import hashlib
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

import torch

import checkpoint
import distributed
from fileio import UserError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs there are not protected from each other
    fcntl = None


class TrainingInterrupted(Exception):
    """Training stopped on a signal; the message says what is on disk and how to go on."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum


@dataclass
class ResumePoint:
    epoch: int
    batches_done: int
    python_rng: tuple
    torch_rng: torch.Tensor
    cuda_rng: list


def digest(data):
    """A short SHA-256 digest of text or bytes: enough to tell two corpora apart."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def file_digest(path):
    """digest() of a file's bytes, or None when there is no file."""
    if path is None:
        return None
    with open(path, "rb") as f:
        return digest(f.read())


# Settings added to the fingerprint after states were first saved, with the value every earlier
# run used: a state saved by an earlier version still resumes a run with that value.
RECORDED_LATER = {"weight_decay": 0.1, "bucket_weighting": "batch", "average_last": 0, "average_every": 1,
                  "optimizer": "adamw"}


def differences(saved, current, prefix=""):
    """'key saved vs current' for every entry that differs, nested dicts flattened (a.b)."""
    found = []
    for key in sorted(set(saved) | set(current), key=str):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            found += differences(old, new, f"{prefix}{key}.")
        elif old != new:
            found.append(f"{prefix}{key} {old} vs {new}")
    return found


class TrainingState:
    """Saves, finds and restores the resumable state of one Trainer at `path`."""

    def __init__(self, path, interval, fingerprint):
        self.path = path
        self.interval = interval
        self.fingerprint = fingerprint
        self.last_save = time.monotonic()
        self.failed_save = None  # the last periodic save's error, reported once

    def due(self):
        return self.path is not None and time.monotonic() - self.last_save >= self.interval

    def save(self, trainer, epoch, batches_done, epoch_rng, must_succeed=False):
        """Write everything needed to continue exactly from here (on rank 0).

        A periodic save that fails (a full disk) is reported once and training goes on: the
        final save may still succeed. A save on a signal must succeed (must_succeed)."""
        if self.path is None:
            return
        if distributed.is_main():
            try:
                checkpoint.save({
                    "fingerprint": self.fingerprint,
                    "model": trainer.model.state_dict(),
                    "optimizer": trainer.optimizer.state_dict(),
                    "scaler": trainer.scaler.state_dict() if trainer.scaler else None,
                    "tokens": trainer.tokens, "step": trainer.step,
                    "averaged": trainer.average.snapshots if trainer.average else None,
                    "epoch": epoch, "batches_done": batches_done,
                    "python_rng": epoch_rng,  # at the start of the epoch: the epoch is replayed to here
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else None,
                }, self.path)
            except UserError as e:
                if must_succeed:
                    raise
                if str(e) != self.failed_save:
                    print(f"warning: {e}; training goes on", file=sys.stderr)
                self.failed_save = str(e)
        self.last_save = time.monotonic()

    def load(self, trainer):
        """Restore a saved state into the trainer; returns where to resume, or None."""
        if self.path is None or not os.path.exists(self.path):
            return None
        state = checkpoint.load(self.path, "training state")
        if not isinstance(state, dict) or not isinstance(state.get("fingerprint"), dict):
            raise UserError(f"{self.path!r} is not a training state; delete it or add --fresh to start afresh")
        changed = differences({**RECORDED_LATER, **state["fingerprint"]}, self.fingerprint)
        if changed:
            raise UserError(f"the training state {self.path!r} belongs to a run with other settings "
                            f"({'; '.join(changed)}); restore them to resume, or add --fresh to start afresh")
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        if trainer.scaler is not None and state["scaler"] is not None:
            trainer.scaler.load_state_dict(state["scaler"])
        trainer.tokens, trainer.step = state["tokens"], state["step"]
        if trainer.average:
            trainer.average.snapshots = state["averaged"]
        distributed.print0(f"Resuming from {self.path}: epoch {state['epoch'] + 1}, "
                           f"iteration {state['batches_done']} ({trainer.step} steps done)")
        return ResumePoint(state["epoch"], state["batches_done"], state["python_rng"],
                           state["torch_rng"], state["cuda_rng"])

    @staticmethod
    def replay(batches, resume, device):
        """Draw the batches already trained on (the random draws repeat), then restore the RNGs."""
        for _ in range(resume.batches_done):
            next(batches, None)
        torch.set_rng_state(resume.torch_rng)
        if resume.cuda_rng is not None and device.type == "cuda":
            torch.cuda.set_rng_state_all(resume.cuda_rng)
        return resume.batches_done

    def discard(self):
        """Remove the state once the final params are safely written."""
        if self.path and distributed.is_main() and os.path.exists(self.path):
            os.remove(self.path)


class SignalCatcher:
    """While active, SIGINT/SIGTERM are recorded in `signum` instead of stopping the process.

    With `second_quits`, a second signal raises KeyboardInterrupt (stop at once); without it,
    every signal waits until the block is done (for a save that must not be cut short).
    """

    def __init__(self, announce=None, second_quits=True):
        self.announce = announce  # printed when the first signal arrives
        self.second_quits = second_quits
        self.signum = None

    @contextlib.contextmanager
    def active(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _on_signal(self, signum, _frame):
        if self.signum is not None and self.second_quits:
            raise KeyboardInterrupt
        if self.signum is None and self.announce and distributed.is_main():
            print(f"\n{signal.Signals(signum).name}: {self.announce}", file=sys.stderr)
        self.signum = self.signum or signum


class RunLock:
    """An exclusive lock on `path` while a run writes its params and state, naming its holder.

    fcntl.flock on an open file: the kernel releases it when the process dies, so a crashed run
    never leaves a stale lock. The file is removed on release.
    """

    def __init__(self, path, enabled=True):
        self.path = path
        self.enabled = enabled and fcntl is not None  # one lock per run: rank 0 takes it under torchrun
        self.fd = None

    def acquire(self, what):
        if not self.enabled:
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as e:
                raise UserError(f"cannot create the lock file {self.path!r}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):  # no locks on this filesystem
                    return self._without_lock(fd, e)
                holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise UserError(f"{what} is in use by another run ({holder}; lock {self.path!r}): wait for it "
                                f"to end, or choose another --writing_params_path") from None
            if self._still_linked(fd):
                break
            os.close(fd)  # the previous holder removed this file as we opened it: try the new one
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}".encode())
        self.fd = fd
        return self

    def _without_lock(self, fd, error):
        """Train anyway where the filesystem cannot lock (some network and FUSE mounts), and say so."""
        os.close(fd)
        with contextlib.suppress(OSError):
            os.remove(self.path)
        print(f"warning: cannot lock {self.path!r} ({error.strerror or error}): this filesystem has no file "
              f"locks, so nothing stops a second run on the same params; start one run at a time",
              file=sys.stderr)
        return self

    def _still_linked(self, fd):
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def release(self):
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.remove(self.path)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.release()

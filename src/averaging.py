"""Latest weight averaging: a pretraining writes the mean of its weights at the ends of its last
epochs instead of the final weights alone ("Early Weight Averaging meets High Learning Rates for
LLM Pre-training", Sanyal et al., 2023). At a high learning rate the run bounces across a valley;
the mean of points spaced along its path lies nearer the floor than any of them, much as a
decayed learning rate would take it there, while the run itself keeps the high rate.

Only the parameters are averaged (buffers stay the final ones), and the result has the model's
own parameter names, so the params still load in the assignment's code.
"""
import torch


class WeightAverage:
    """Snapshots of a model's parameters at the ends of the last `last` of `max_epochs` epochs,
    `every` epochs apart (counted back from the final epoch), and their mean."""

    def __init__(self, last, every, max_epochs):
        self.epochs = [max_epochs - 1 - i * every for i in reversed(range(last))]  # 0-based, oldest first
        self.snapshots = {}  # epoch -> {parameter name: CPU tensor}

    def after_epoch(self, model, epoch):
        """Keep a copy of the parameters if `epoch` (0-based, just finished) is one to average."""
        if epoch in self.epochs:
            self.snapshots[epoch] = {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()}

    def apply(self, model):
        """Set the model's parameters to the mean of the snapshots and return True, or return False
        and leave the weights as they are when the run stopped before its last epoch (--max_steps)."""
        if len(self.snapshots) < len(self.epochs):
            return False
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.stack([snapshot[name] for snapshot in self.snapshots.values()]).mean(dim=0))
        return True

    def describe(self):
        return f"the mean of the weights at the ends of epochs {', '.join(str(e + 1) for e in self.epochs)}"

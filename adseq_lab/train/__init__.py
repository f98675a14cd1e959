"""Training utilities: gradients in either mode, an optax loop with callbacks, stop and
checkpoints, and bounded delay parametrisations.

>>> from adseq_lab import train
>>> sorted(n for n in train.__all__ if n.startswith(("fit", "bounded")))
['bounded_delay', 'fit']
"""

from .bounded import bounded_delay, raw_delay
from .checkpoint import load_checkpoint, save_checkpoint
from .gradients import MODES, Mode, value_and_grad
from .loop import Callback, FitResult, TrainState, fit, make_update

__all__ = [
    "Callback",
    "FitResult",
    "MODES",
    "Mode",
    "TrainState",
    "bounded_delay",
    "fit",
    "load_checkpoint",
    "make_update",
    "raw_delay",
    "save_checkpoint",
    "value_and_grad",
]

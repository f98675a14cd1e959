"""adseq-lab: autodifferentiable spike-event queues, synapses and networks with delays."""

from . import implementations, queues  # noqa: F401
from .implementations import *  # noqa: F403  (the seed's `adseq.FIFORing` spelling)

__version__ = "0.1.0"

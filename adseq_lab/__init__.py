"""adseq-lab: autodifferentiable spike-event queues, synapses and networks with delays."""

from . import implementations, queues, synapse, synapse2  # noqa: F401
from .implementations import *  # noqa: F403  (the seed's `adseq.FIFORing` spelling)
from .synapse import mk_synapse, mk_synapses  # noqa: F401
from .synapse2 import mk_synapse2, mk_synapse2s  # noqa: F401

__version__ = "0.1.0"

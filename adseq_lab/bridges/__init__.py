"""Bridges: delayed, differentiable synapses inside other simulators and frameworks.

adseq-lab does not replace existing simulators; it plugs its event queues into them:

- :mod:`adseq_lab.bridges.flax_bridge`: Flax Linen layers with the seed's API (``Sequential``,
  ``DenseInput``, ``Dense``, ``LIF``, ``AdEx``); needs ``flax`` (``pip install adseq-lab[flax]``).
- :mod:`adseq_lab.bridges.flax_nnx`: the same layers as Flax NNX modules.
- :mod:`adseq_lab.bridges.jaxley_bridge`: ``DelaySynapse``, a jaxley synapse whose spikes travel
  through an event queue; needs ``jaxley`` (``pip install adseq-lab[jaxley]``).
- :mod:`adseq_lab.bridges.layers`: the layer maths both Flax bridges share (no Flax import).

Nothing is imported here, so ``import adseq_lab.bridges`` never needs the optional dependencies.
"""

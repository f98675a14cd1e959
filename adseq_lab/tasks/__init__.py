"""Learning tasks built on :mod:`adseq_lab.network` and :mod:`adseq_lab.train`: spike timing,
delay recovery, Yin-Yang classification (each a module with one entry point)."""

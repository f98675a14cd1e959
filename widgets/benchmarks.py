"""The benchmarks dashboard alone: `panel serve widgets/benchmarks.py`.

Every dashboard with an index page: `adseq-lab serve`.
"""

import panel as pn

from adseq_lab.dashboards.apps import page

pn.extension()
page("benchmarks").servable()

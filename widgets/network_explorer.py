"""The network explorer dashboard alone: `panel serve widgets/network_explorer.py`.

Every dashboard with an index page: `adseq-lab serve`.
"""

import panel as pn

from adseq_lab.dashboards.apps import page

pn.extension()
page("network_explorer").servable()

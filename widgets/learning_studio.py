"""The delay-learning studio alone: `panel serve widgets/learning_studio.py`.

Every dashboard with an index page: `adseq-lab serve`.
"""

import panel as pn

from adseq_lab.dashboards.apps import page

pn.extension()
page("learning_studio").servable()

"""Panel dashboards (the only part of adseq-lab that imports Panel and HoloViews).

Each dashboard is a :class:`panel.viewable.Viewer` class: display an instance in JupyterLab, or
serve the class (``adseq-lab serve``) so every browser session gets its own instance.
"""

import pytest

pytest.importorskip("panel", reason="dashboards need the lab extra")
pytest.importorskip("holoviews", reason="dashboards need the lab extra")

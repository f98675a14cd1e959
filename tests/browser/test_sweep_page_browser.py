"""The sweep tab of the benchmarks page in headless Chromium: a tiny local sweep run from the page
fills the plots and the table, bad input shows a message, and no JavaScript error occurs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000

# each plotted series (curve or markers of a sweep column) as "column:n_neurons values"
SWEEP_SERIES = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      const data = model.data;
      if (data && data.n_neurons !== undefined) {
        const column = Object.keys(data).find((k) => ["us_per_step", "dropped", "spikes",
          "peak_bytes"].includes(k));
        if (column) out.push(column + ":" + Array.from(data.n_neurons).join(","));
      }
    }
  }
  return out.sort();
}"""


def fill(page, label: str, value: str) -> None:
    field = page.locator(".bk-input-group", has_text=label).locator("input").first
    field.fill(value)
    field.press("Enter")


def test_a_local_sweep_fills_the_plots_and_the_table(dashboards_url, open_page):
    view = open_page()
    page = view.page
    page.goto(dashboards_url + "benchmarks")
    page.locator(".bk-tab", has_text="Network sweep").click()
    page.get_by_text("No sweep yet").wait_for(timeout=TIMEOUT_MS)

    fill(page, "Neurons (sizes)", "five")
    page.get_by_role("button", name="Run sweep").click()
    refusal = page.locator(".alert-danger", has_text="sizes: expected integers")
    refusal.wait_for(timeout=TIMEOUT_MS)

    fill(page, "Neurons (sizes)", "5, 8")
    fill(page, "Time steps", "60")
    fill(page, "Seeds", "0")
    fill(page, "Timed repeats", "1")
    page.get_by_role("button", name="Run sweep").click()
    page.get_by_text("4 of 4 rows").wait_for(timeout=TIMEOUT_MS)
    refusal.wait_for(state="hidden", timeout=TIMEOUT_MS)

    series = set(page.evaluate(SWEEP_SERIES))  # earlier redraws' models may linger
    for column in ("us_per_step", "dropped", "spikes", "peak_bytes"):
        assert f"{column}:5,8" in series, sorted(series)  # both sizes in every panel
    cells = page.locator("table tbody tr")
    assert cells.count() == 4
    assert page.locator("table td", has_text="fifo_ring").count() == 2
    view.screenshot("sweep_page")
    assert view.errors == []

"""The delay-learning studio in headless Chromium: choose Yin-Yang, Start, the loss, delay,
accuracy and raster plots are drawn and keep changing while training runs, Stop stops it, and no
JavaScript error occurs. Screenshots go to artifacts/."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000

SOURCES = """() => {
  const out = {};
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      const data = model.data;
      if (data && typeof data === "object" && model.selected !== undefined) {
        const keys = Object.keys(data).sort();
        const length = keys.length ? data[keys[0]].length : 0;
        const name = keys.join(",");
        out[name] = Math.max(out[name] || 0, length);
      }
    }
  }
  return out;
}"""

TITLES = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      if (typeof model.text === "string") out.push(model.text);
    }
  }
  return out.join("\\n");
}"""

ALL_TEXT = """() => {
  const parts = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent);
      else walk(child);
    }
  };
  walk(document.body);
  return parts.join(" ");
}"""


def drawn(sources: dict[str, int], *columns: str) -> int:
    """Most points among the plotted sources holding all of ``columns``."""
    wanted = set(columns)
    return max((n for keys, n in sources.items() if wanted <= set(keys.split(","))), default=0)


def raster_step(page) -> int:
    """The step of the raster shown (0 before the first)."""
    match = re.search(r"Raster after step (\d+)", page.evaluate(ALL_TEXT))
    return int(match.group(1)) if match else 0


def test_studio_trains_yinyang_live_and_stops(dashboards_url, open_page):
    view = open_page()
    page = view.page
    page.goto(dashboards_url + "learning_studio")
    page.get_by_text("Not trained yet").wait_for(timeout=TIMEOUT_MS)
    task = page.locator(".bk-input-group", has_text="Task").locator("select").first
    task.select_option("yin-yang")
    steps = page.locator(".bk-input-group", has_text="Steps").locator("input").first
    steps.fill("5000")
    steps.press("Enter")
    page.get_by_role("button", name="Start", exact=True).click()

    # live: the raster is redrawn for later steps while the loss and delay curves grow
    page.get_by_text(re.compile(r"Raster after step \d+")).wait_for(timeout=TIMEOUT_MS)
    first = raster_step(page)
    page.wait_for_function(
        f"() => Number(/Raster after step (\\d+)/.exec(({ALL_TEXT})())[1]) > {first}",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_function(
        f"() => ({ALL_TEXT})().includes('validation accuracy')", timeout=TIMEOUT_MS
    )
    sources = page.evaluate(SOURCES)
    assert drawn(sources, "loss") >= 2, sources
    assert drawn(sources, "delay (ms)") >= 2, sources
    assert drawn(sources, "accuracy") >= 1, sources
    assert drawn(sources, "neuron", "time") >= 1, sources  # spikes of the current parameters
    assert "Spikes of validation example 0" in page.evaluate(TITLES)
    view.screenshot("learning_studio_training")

    page.get_by_role("button", name="■ Stop").click()
    page.get_by_text(re.compile(r"Stopped after \d+ of 5000 steps")).wait_for(timeout=TIMEOUT_MS)
    text = page.evaluate(ALL_TEXT)
    stopped = int(re.search(r"Stopped after (\d+) of 5000", text).group(1))
    assert 1 <= stopped < 5000
    page.wait_for_timeout(1500)
    assert raster_step(page) == stopped  # the last raster is of the step training stopped at
    assert re.search(rf"Step {stopped}\b", page.evaluate(ALL_TEXT))  # nothing trained after
    view.screenshot("learning_studio_stopped")
    assert view.errors == []

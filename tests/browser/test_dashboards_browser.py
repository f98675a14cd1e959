"""The dashboards in headless Chromium: pages load, Run re-plots, refusals show, sessions are
independent, Stop stops, and no JavaScript error occurs. Screenshots go to artifacts/."""

from __future__ import annotations

import json
import re

import pytest

from adseq_lab.dashboards.apps import APPS
from adseq_lab.queue_trace import poisson_stream

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000

PLOTTED_ARRIVALS = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      const data = model.data;
      if (data && data.arrival !== undefined && data.step !== undefined) {
        out.push(Array.from(data.step).join(",") + "/" + Array.from(data.arrival).join(","));
      }
    }
  }
  return out.sort().join("|");
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

PLOT_TITLES = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      if (typeof model.text === "string" && model.text.includes("events over time")) {
        out.push(model.text);
      }
    }
  }
  return out.sort();
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


def page_text(page) -> str:
    """All text on the page, inside Panel's shadow roots too."""
    return page.evaluate(ALL_TEXT)


def wait_for_text(page, text: str) -> None:
    page.wait_for_function(f"text => ({ALL_TEXT})().includes(text)", arg=text, timeout=TIMEOUT_MS)


def run_and_wait(page, expected: str) -> None:
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_text(page, expected)


def choose_kind(page, kind: str) -> None:
    """Add ``kind`` to the MultiChoice of queue kinds by typing it, as a user would."""
    page.locator(".choices__input--cloned").first.click()
    page.locator(".choices__item--choice", has_text=kind).first.click()
    page.keyboard.press("Escape")


def set_number(page, label: str, value: int) -> None:
    field = page.locator(".bk-input-group", has_text=label).locator("input").first
    field.fill(str(value))
    field.press("Enter")


def expected_events(seed: int, steps: int = 60) -> int:
    return int(poisson_stream(steps, 1, 0.35, 6, 3, seed).emitted.sum())


def test_index_links_every_dashboard(dashboards_url, open_page):
    view = open_page()
    view.page.goto(dashboards_url)
    for app in APPS:
        link = view.page.get_by_role("link", name=app.title)
        link.wait_for(timeout=TIMEOUT_MS)
        assert link.get_attribute("href") == f"./{app.slug}"
    view.screenshot("index")
    assert view.errors == []


def test_queue_explorer_runs_replots_refuses_and_animates(dashboards_url, open_page):
    view = open_page()
    page = view.page
    page.goto(dashboards_url + "queue_explorer")
    page.get_by_text("No run yet").wait_for(timeout=TIMEOUT_MS)

    run_and_wait(page, f"Plotted {expected_events(0)} events through 3 kind(s)")
    first = page.evaluate(PLOTTED_ARRIVALS)
    assert first and len(page.evaluate(PLOT_TITLES)) == 3
    view.screenshot("queue_explorer")

    choose_kind(page, "binary_heap")
    run_and_wait(page, "through 4 kind(s)")
    page.wait_for_function(
        f"() => ({PLOTTED_ARRIVALS})() !== {json.dumps(first)}", timeout=TIMEOUT_MS
    )
    titles = page.evaluate(PLOT_TITLES)
    assert any(t.startswith("BinaryHeap[3]") for t in titles), titles

    # refused input: a visible message, the page and server stay alive
    set_number(page, "Capacity k", 0)
    page.get_by_role("button", name="Run", exact=True).click()
    alert = page.locator(".alert-danger", has_text="capacity must be a positive integer")
    alert.wait_for(timeout=TIMEOUT_MS)
    assert "Traceback" not in page_text(page)
    view.screenshot("queue_explorer_refused")
    set_number(page, "Capacity k", 2)
    run_and_wait(page, "through 4 kind(s)")
    alert.wait_for(state="hidden", timeout=TIMEOUT_MS)

    # animation: Play advances the step shown, Stop freezes it
    wait_for_text(page, "Step 59, queue 0")  # a run shows its last step
    page.get_by_role("button", name="▶ Play").click()  # replays from step 0
    page.wait_for_function(
        f"() => /Step ([3-9]|[1-4][0-9]), queue 0/.test(({ALL_TEXT})())", timeout=TIMEOUT_MS
    )
    page.get_by_role("button", name="■ Stop").click()
    page.get_by_text(re.compile(r"stopped at step \d+")).wait_for(timeout=TIMEOUT_MS)
    stopped_at = re.search(r"stopped at step (\d+)", page_text(page)).group(1)
    page.wait_for_timeout(2000)  # eight frames at 250 ms, were it still playing
    assert re.search(r"Step (\d+), queue 0", page_text(page)).group(1) == stopped_at
    view.screenshot("queue_explorer_animated")
    assert view.errors == []


def test_concurrent_sessions_keep_their_own_state(dashboards_url, open_page):
    views = [open_page() for _ in range(10)]
    for view in views:
        view.page.goto(dashboards_url + "queue_explorer")
    for view in views:
        view.page.get_by_text("No run yet").wait_for(timeout=TIMEOUT_MS)
    seeds = [11, 12, 13, 14, 15]
    for view, seed in zip(views, seeds, strict=False):
        set_number(view.page, "Seed", seed)
    for view in views[: len(seeds)]:  # five sessions run at once, five stay idle
        view.page.get_by_role("button", name="Run", exact=True).click()
    for view, seed in zip(views, seeds, strict=False):
        wait_for_text(view.page, f"Plotted {expected_events(seed)} events")
    for view in views[len(seeds) :]:
        assert "No run yet" in page_text(view.page) and not view.page.evaluate(PLOTTED_ARRIVALS)
    arrivals = {view.page.evaluate(PLOTTED_ARRIVALS) for view in views[: len(seeds)]}
    assert len(arrivals) == len(seeds)  # five streams, five different pictures
    views[-1].screenshot("queue_explorer_idle_session")
    assert all(view.errors == [] for view in views)


def test_benchmark_run_streams_points_and_stops(dashboards_url, open_page):
    view = open_page()
    page = view.page
    page.goto(dashboards_url + "benchmarks")
    page.get_by_text("No results yet").wait_for(timeout=TIMEOUT_MS)
    set_number(page, "Steps per run", 20)
    set_number(page, "Repeats (median)", 1)
    page.get_by_role("button", name="Run benchmark").click()
    # points arrive one by one while the page stays live
    page.get_by_text(re.compile(r"Measuring .* 1 of \d+ done")).wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("1 point plotted").wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="■ Stop").click()
    page.get_by_text(re.compile(r"Stopped after \d+ of \d+ points")).wait_for(timeout=TIMEOUT_MS)
    done, total = map(int, re.search(r"Stopped after (\d+) of (\d+)", page_text(page)).groups())
    assert 1 <= done < total
    page.wait_for_timeout(2000)
    assert f"{done} point" in page_text(page)  # nothing measured after Stop
    view.screenshot("benchmarks_stopped")
    assert view.errors == []


def test_benchmarks_page_loads_a_saved_run(dashboards_url, open_page, tmp_path):
    saved = tmp_path / "queues.json"
    rows = [
        {"kind": kind, "n": n, "implementation": impl, "median_us": us}
        for kind, scale in (("FIFORing[4]", 1.0), ("Ring", 2.0))
        for impl, factor in (("adseq_lab", 1.0), ("adseq", 2.5))
        for n, us in ((1000, 10.0 * scale * factor), (10000, 40.0 * scale * factor))
    ]
    saved.write_text(json.dumps({"workload": "queues", "results": rows}))
    view = open_page()
    page = view.page
    page.goto(dashboards_url + "benchmarks")
    page.get_by_text("No results yet").wait_for(timeout=TIMEOUT_MS)
    page.locator("input[type=file]").set_input_files(str(saved))
    page.get_by_text("8 points plotted").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("2.5").first.wait_for(timeout=TIMEOUT_MS)  # the speedup column
    view.screenshot("benchmarks")
    assert view.errors == []


RASTER = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      const data = model.data;
      if (data && data.neuron !== undefined && data.time !== undefined) {
        out.push(data.neuron.length + ":" + Array.from(data.neuron).slice(0, 2000).join(","));
      }
    }
  }
  return out.sort().join("|");
}"""


def test_network_explorer_reruns_when_the_queue_kind_changes(dashboards_url, open_page):
    view = open_page()
    page = view.page
    page.goto(dashboards_url + "network_explorer")
    page.get_by_text("No run yet").wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"spikes from 100 neurons over 100\.0 ms")).wait_for(
        timeout=TIMEOUT_MS
    )
    first = page.evaluate(RASTER)
    assert first
    view.screenshot("network_explorer")

    page.locator(".bk-input-group", has_text="Queue kind").locator("select").select_option(
        "do_nothing"
    )
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function(f"() => ({RASTER})() !== {json.dumps(first)}", timeout=TIMEOUT_MS)
    page.get_by_text(re.compile(r"spikes from 100 neurons over 100\.0 ms")).wait_for(
        timeout=TIMEOUT_MS
    )  # the whole run, not only its first chunks
    assert "Synapse queues (DoNothing)" in page.evaluate(TITLES)
    view.screenshot("network_explorer_do_nothing")

    page.locator(".bk-input-group", has_text="Queue kind").locator("select").select_option(
        "bit_array32"
    )
    set_number(page, "Max delay (ms)", 4)  # 40 steps of 0.1 ms: beyond BitArray32's 31
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator(".alert-danger", has_text="max_delay_steps").wait_for(timeout=TIMEOUT_MS)
    assert view.errors == []

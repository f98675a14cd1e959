"""adseq-lab serve: arguments, loopback default, one factory per route, pages answer."""

from __future__ import annotations

import urllib.request

import pytest

from adseq_lab import cli, serve
from adseq_lab.dashboards import apps


def parse(argv):
    import argparse

    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_bind_loopback_on_5006():
    args = parse([])
    assert (args.address, args.port, args.no_show, args.allow_websocket_origin) == (
        "127.0.0.1",
        5006,
        False,
        [],
    )
    args = parse(["--port", "7000", "--no-show", "--allow-websocket-origin", "lab.example:443"])
    assert args.port == 7000 and args.no_show
    assert serve.origins(args.address, args.port, args.allow_websocket_origin) == [
        "localhost:7000",
        "127.0.0.1:7000",
        "lab.example:443",
    ]


def test_serve_is_a_registered_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", "--help"])
    assert exit_.value.code == 0
    assert "--allow-websocket-origin" in capsys.readouterr().out


def test_bad_port_is_refused():
    with pytest.raises(SystemExit, match="--port"):
        serve.run(parse(["--port", "0"]))


def test_routes_are_factories_making_fresh_dashboards():
    routes = apps.routes()
    assert set(routes) == {"/"} | {app.slug for app in apps.APPS}
    first, second = routes["queue_explorer"](), routes["queue_explorer"]()
    assert first is not second
    with pytest.raises(ValueError, match="unknown dashboard"):
        apps.page("nope")
    index = apps.index_page()
    text = index.objects[0].object
    assert all(f"(./{app.slug})" in text for app in apps.APPS)


def test_server_answers_every_route_on_loopback():
    server, url = serve.start_in_background()
    try:
        assert url.startswith("http://127.0.0.1:")
        for path in ["", *(app.slug for app in apps.APPS)]:
            with urllib.request.urlopen(url + path, timeout=30) as reply:
                assert reply.status == 200
    finally:
        server.stop()

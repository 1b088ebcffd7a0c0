"""Binding compute environments to a Ray cluster: ``--ray CE=ADDRESS``, ``BATCHBRIDGE_RAY``, assembly."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from batchbridge.cli import server_cmd
from batchbridge.config import Settings, load_settings, parse_ray_bindings
from batchbridge.executors.local import LocalExecutor
from batchbridge.executors.routing import RoutingExecutor


def test_bindings_parse_from_flags_and_the_environment() -> None:
    assert parse_ray_bindings(["gpu-ce=10.0.0.5:6379", " big-ce = 10.0.0.5:6379 ", ""]) == {
        "gpu-ce": "10.0.0.5:6379",
        "big-ce": "10.0.0.5:6379",
    }
    settings = load_settings({"BATCHBRIDGE_RAY": "a=127.0.0.1:6379;b=127.0.0.1:6379"})
    assert dict(settings.ray_bindings) == {"a": "127.0.0.1:6379", "b": "127.0.0.1:6379"}
    assert dict(load_settings({}).ray_bindings) == {}


@pytest.mark.parametrize("bad", ["gpu-ce", "=10.0.0.5:6379", "gpu-ce="])
def test_a_malformed_binding_names_the_expected_form(bad: str) -> None:
    with pytest.raises(ValueError, match="CE_NAME=ADDRESS") as caught:
        parse_ray_bindings([bad])
    assert repr(bad.strip()) in str(caught.value)


def test_bindings_to_two_clusters_are_refused() -> None:
    with pytest.raises(ValueError, match="more than one cluster"):
        parse_ray_bindings(["a=10.0.0.1:6379", "b=10.0.0.2:6379"])


def test_the_server_command_accepts_repeated_ray_flags() -> None:
    parser = argparse.ArgumentParser()
    server_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["server", "--ray", "a=127.0.0.1:1", "--ray", "b=127.0.0.1:1"])
    assert args.ray == ["a=127.0.0.1:1", "b=127.0.0.1:1"]


def test_assembly_routes_only_when_a_binding_exists(tmp_path: Path) -> None:
    from batchbridge.assembly import build_executor

    plain = build_executor(Settings(data_dir=tmp_path))
    assert isinstance(plain, LocalExecutor)
    routed = build_executor(Settings(data_dir=tmp_path, ray_bindings={"ray-ce": "127.0.0.1:1"}))
    assert isinstance(routed, RoutingExecutor)
    assert routed.compute_environments == ["ray-ce"]
    assert isinstance(routed.default, LocalExecutor)


def test_a_bound_environment_without_ray_answers_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from batchbridge.assembly import build_executor
    from batchbridge.executors.local import stop_agent

    monkeypatch.setitem(sys.modules, "ray", None)
    routed = build_executor(Settings(data_dir=tmp_path, ray_bindings={"ray-ce": "127.0.0.1:1"}))
    assert isinstance(routed, RoutingExecutor)

    async def scenario() -> None:
        await routed.start()
        try:
            error = routed.error_for("ray-ce")
            assert error is not None and error.code == "ClientException"
            assert str(error) == (
                "Compute environment ray-ce is bound to a Ray cluster but Ray is not installed: "
                "pip install 'batchbridge[ray]'"
            )
        finally:
            await routed.close()
            await stop_agent(tmp_path)

    asyncio.run(scenario())

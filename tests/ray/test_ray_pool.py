"""The warm-actor pool's rules on their own (no cluster): reuse, shrink, and room for a new shape."""

from __future__ import annotations

from pathlib import Path

from batchbridge.executors.base import LaunchSpec
from batchbridge.executors.ray_cluster import MIB, NodeResources
from batchbridge.executors.ray_pool import (
    Pool,
    Shape,
    Slot,
    ray_options,
    shape_from_json,
    shape_of,
    shape_to_json,
)

ONE_CPU: Shape = (1.0, 64, 0, ())
GPU: Shape = (1.0, 64, 1, ())


def _node(node_id: str, cpus: float, gpus: float = 0.0) -> NodeResources:
    return NodeResources(node_id, f"10.0.0.{len(node_id)}", cpus, 4096 * MIB, gpus, {})


def _slot(name: str, shape: Shape, node: str, idle_since: float = 0.0) -> Slot:
    return Slot(name, handle=None, shape=shape, node_id=node, idle_since=idle_since)


def test_shapes_round_trip_and_become_ray_options() -> None:
    spec = LaunchSpec("a-1", ["true"], {}, 2.0, 250, 1, Path("/tmp/w"))
    shape = shape_of(spec, {"gpu-pool": 1})
    assert shape == (2.0, 250, 1, (("gpu-pool", 1.0),))
    assert shape_from_json(shape_to_json(shape)) == shape
    assert shape_from_json("not a shape") is None
    assert ray_options(shape) == {
        "num_cpus": 2.0,
        "num_gpus": 1,
        "memory": 250 * MIB,
        "resources": {"gpu-pool": 1.0},
    }
    assert "memory" not in ray_options((1.0, None, 0, ()))


def test_an_idle_actor_of_the_same_shape_is_reused_most_recent_first() -> None:
    pool = Pool(idle_seconds=30)
    old, new, other = _slot("old", ONE_CPU, "n1"), _slot("new", ONE_CPU, "n1"), _slot("gpu", GPU, "n2")
    for slot in (old, new, other):
        pool.add(slot)
        pool.park(slot)
    assert pool.take_idle(ONE_CPU) is new
    assert pool.take_idle(ONE_CPU) is old
    assert pool.take_idle(ONE_CPU) is None
    pool.drop(other)
    assert pool.take_idle(GPU) is None, "a dropped actor is never handed out"


def test_idle_actors_expire_after_idle_seconds() -> None:
    pool = Pool(idle_seconds=10)
    slot = _slot("a", ONE_CPU, "n1")
    pool.add(slot)
    pool.park(slot)
    assert pool.expired(slot.idle_since + 9) == []
    assert pool.expired(slot.idle_since + 10) == [slot]
    busy = _slot("b", ONE_CPU, "n1")
    pool.add(busy)
    busy.attempt_id = "job.1"
    assert busy not in pool.expired(busy.idle_since + 100), "an actor with an attempt never expires"


def test_a_new_shape_ends_idle_actors_of_other_shapes_on_a_node_that_could_hold_it() -> None:
    nodes = [_node("cpu", 1), _node("gpu", 1, gpus=1)]
    pool = Pool(idle_seconds=30)
    on_cpu, on_gpu = _slot("c", ONE_CPU, "cpu", 1.0), _slot("g", ONE_CPU, "gpu", 2.0)
    for slot in (on_cpu, on_gpu):
        pool.add(slot)
        pool.park(slot)
    assert pool.evictions_for(GPU, nodes) == [on_gpu], "only the GPU node can hold a GPU actor"
    assert pool.evictions_for(ONE_CPU, nodes) == [], "same shape: the idle actors are reused instead"
    assert pool.evictions_for((8.0, None, 0, ()), nodes) == [], "no node could ever hold it"


def test_nothing_is_ended_while_a_node_has_room_or_when_the_blocker_is_busy() -> None:
    nodes = [_node("big", 4)]
    pool = Pool(idle_seconds=30)
    idle = _slot("i", ONE_CPU, "big")
    pool.add(idle)
    pool.park(idle)
    assert pool.evictions_for((2.0, None, 0, ()), nodes) == []
    busy = _slot("b", (3.0, None, 0, ()), "big")
    pool.add(busy)
    busy.attempt_id = "job.1"
    assert pool.evictions_for((1.0, None, 1, ()), [_node("big", 4, gpus=1)]) == [idle]
    assert pool.evictions_for((2.0, None, 0, ()), nodes) == [], "ending the idle actor would not make room"

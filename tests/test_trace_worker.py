"""The trace worker (ios_core.frontend.trace_worker) and the graph file it writes."""

from __future__ import annotations

import json

import pytest

from app.trace_client import TraceWorker
from ios_core.frontend.models import load_model
from ios_core.frontend.tracing import trace_model
from ios_core.ir.graph import GraphError
from ios_core.ir.graph_file import graph_from_json, graph_to_json


def _traced(ref, batch=1):
    loaded = load_model(ref, batch=batch)
    return trace_model(loaded.module, loaded.example_input, name=loaded.name).graph


@pytest.mark.parametrize("ref", ["inception_v3", "squeezenet", "nasnet"])
def test_graph_file_round_trip_is_exact(ref):
    graph = _traced(ref)
    back = graph_from_json(json.loads(json.dumps(graph_to_json(graph))))
    assert back == graph
    assert back.fingerprint() == graph.fingerprint()
    assert [n.attrs for n in back.nodes] == [n.attrs for n in graph.nodes]  # tuples, not lists


@pytest.mark.parametrize("mangle, message", [
    (lambda d: d.update(format="ios-profile/1"), "not an ios-graph/1 file"),
    (lambda d: d["nodes"][0].pop("kind"), "malformed ios-graph/1 data: KeyError"),
    (lambda d: d["nodes"][3].update(inputs=["nowhere"]), "nowhere"),
    (lambda d: d["nodes"][0].update(shape=["wide"]), "malformed"),
])
def test_bad_graph_file_is_refused_with_its_reason(mangle, message):
    data = graph_to_json(_traced("squeezenet"))
    mangle(data)
    with pytest.raises(GraphError, match=message):
        graph_from_json(data)


class Worker(TraceWorker):
    """The worker's answers as OpGraphs, as the app's backend reads them."""

    def graph(self, model, batch, leaves=(), regions=False):
        data = self.graph_data(model, batch, leaves, regions)
        return None if data is None else graph_from_json(data)


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def test_worker_traces_what_this_process_traces(worker):
    for ref in ("inception_v3", "squeezenet"):
        got = worker.graph(ref, 2)
        assert got == _traced(ref, 2)
    asked = len(worker._done)
    worker.graph("squeezenet", 2)
    assert len(worker._done) == asked  # answered from its files: not traced again
    leaves = ("Mixed_5b",)
    loaded = load_model("inception_v3")
    expect = trace_model(loaded.module, loaded.example_input, name=loaded.name,
                         leaf_modules=leaves).graph
    assert worker.graph("inception_v3", 1, leaves) == expect


def test_worker_survives_a_model_that_prints(worker):
    got = worker.graph("tests._app_models:chatty", 1)
    assert got is not None and [n.kind for n in got.nodes] == ["conv"]


def test_worker_answers_none_for_a_model_it_cannot_trace(worker):
    # the caller then traces here, which raises the frontend's own error with its advice
    assert worker.graph("no_such_model", 1) is None
    assert worker.graph("tests._app_models:untraceable", 1) is None
    assert worker.graph("squeezenet", 1) is not None  # and it goes on serving


def test_a_dead_worker_answers_none_and_is_not_restarted():
    w = Worker()
    assert w.graph("ios_demo", 1) is not None
    w._proc.kill()
    w._proc.wait()
    assert w.graph("squeezenet", 1) is None
    assert "stopped" in w.failed
    assert w.answered("resnet50", 1)  # a dead worker answers at once: the page traces itself
    assert w.graph("inception_v3", 1) is None
    w.close()


def test_prefetch_traces_in_the_background_and_a_later_ask_finds_it():
    import time

    w = Worker()
    w.start()
    assert w._proc is not None and w._proc.poll() is None  # started before any request
    assert not w.answered("ios_demo", 1)
    w.prefetch("ios_demo", 1)
    deadline = time.monotonic() + 120
    while not w.answered("ios_demo", 1) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w._done[("ios_demo", 1, (), False)] is not None
    asked = len(w._done)
    assert w.graph("ios_demo", 1) == _traced("ios_demo")
    assert len(w._done) == asked
    w.close()


def test_worker_fuses_regions_when_asked(worker):
    """``regions``: the graph with its elementwise chains fused, as fuse_regions makes it here;
    a plain request of the same model is answered apart."""
    from ios_core.frontend.regions import fuse_regions

    ref = "tests._epilogue_models:tiny_mobilenet"
    loaded = load_model(ref)
    traced = trace_model(loaded.module, loaded.example_input, name=loaded.name)
    fused = worker.graph(ref, 1, regions=True)
    assert fused.fingerprint() == fuse_regions(traced).graph.fingerprint()
    assert worker.graph(ref, 1).fingerprint() == traced.graph.fingerprint() != fused.fingerprint()

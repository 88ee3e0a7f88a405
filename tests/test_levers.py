"""Every engine lever keeps the executor's output equal to the model's (CPU paths; CUDA-only
parts are tested through their fallbacks here and for real in test_cuda_levers.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from ios_core.cost.analytic import SimulatedCost
from ios_core.runtime import fused_conv
from ios_core.runtime.concat_views import adjacent_view, strided_view
from ios_core.runtime.engine import cudnn_benchmark
from ios_core.runtime.executor import check, compile_schedule
from ios_core.runtime.lanes import assign_lanes
from ios_core.runtime.options import EngineOptions
from ios_core.runtime.steps import MergedStep, OpStep
from ios_core.search import optimize
from tests._hand_models import SCHEDULES, hand_traced, make_schedule
from tests._lever_models import LEVER_SCHEDULES, lever_schedule, lever_traced

ALL = EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True, concat="inplace",
                    cudnn_benchmark=True, order="longest-first", stream_priority=True)
OPTIONS = {
    "fused": EngineOptions(fuse_conv_relu=True),
    "fused_add": EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True),
    "view": EngineOptions(concat="view"),
    "inplace": EngineOptions(concat="inplace"),
    "bench": EngineOptions(cudnn_benchmark=True),
    "longest": EngineOptions(order="longest-first"),
    "cap1": EngineOptions(stream_cap=1),
    "cap2": EngineOptions(stream_cap=2),
    "nhwc": EngineOptions(channels_last=True),
    "nhwc_pack": EngineOptions(channels_last=True, pack_slices=True),
    "nhwc_sviews": EngineOptions(concat="inplace", channels_last=True, pack_slices=True,
                                 strided_views=True),
    "all": ALL,
    "all_cap2_nhwc": EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True,
                                   concat="inplace", stream_cap=2, channels_last=True),
}


@pytest.fixture(scope="module")
def traced():
    return lever_traced(batch=1)


@pytest.fixture(scope="module")
def traced_b2():
    return lever_traced(batch=2)


def _x(traced, seed: int = 1) -> torch.Tensor:
    shape = traced.graph.inputs[0].shape
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _schedules(traced):
    found = {s: optimize(traced.graph, s, SimulatedCost("h100")) for s in ("ios-both",
                                                                          "sequential")}
    return {**{n: lever_schedule(traced, n) for n in LEVER_SCHEDULES}, **found}


@pytest.mark.parametrize("opt", sorted(OPTIONS))
@pytest.mark.parametrize("batch", [1, 2])
def test_option_matches_plain_and_model(traced, traced_b2, opt: str, batch: int) -> None:
    tr = traced if batch == 1 else traced_b2
    x = _x(tr)
    with torch.no_grad():
        want = tr.module(x)
    for name, schedule in _schedules(tr).items():
        plain = compile_schedule(tr, schedule)(x)
        got = compile_schedule(tr, schedule, options=OPTIONS[opt])(x)
        torch.testing.assert_close(got, plain, rtol=1e-5, atol=1e-5, msg=name)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4, msg=name)


PACK_SCHEDULE = [  # e1/e3 feed a concat (views stay), conv_a/conv_b feed an add (packed)
    ("concurrent", [["squeeze"]]),
    ("merge", [["e3", "e1"]]),
    ("concurrent", [["cat"]]),
    ("merge", [["conv_a", "conv_b"]]),
    ("concurrent", [["add"], ["avg_pool2d", "add_1"]]),
    ("concurrent", [["cat_1"]]),
    ("concurrent", [["conv_q", "conv_r", "add_2"]]),
    ("concurrent", [["adaptive_avg_pool2d", "fc"]]),
]


def test_pack_slices_copies_only_slices_read_by_non_concats(traced) -> None:
    from tests._hand_models import make_schedule

    opts = EngineOptions(channels_last=True, pack_slices=True)
    schedule = make_schedule(traced.graph, PACK_SCHEDULE)
    compiled = compile_schedule(traced, schedule, options=opts)
    packed = {n: flag for p in compiled._plans for g in p.groups for s in g
              if isinstance(s, MergedStep) for n, flag in zip(s.names, s.packed, strict=True)}
    assert packed == {"e1": False, "e3": False, "conv_a": True, "conv_b": True}
    x = _x(traced)
    with torch.no_grad():
        want = traced.module(x)
    torch.testing.assert_close(compiled(x), want, rtol=1e-4, atol=1e-4)
    unpacked = compile_schedule(traced, schedule, options=EngineOptions(channels_last=True))
    assert all(not s.packed for p in unpacked._plans for g in p.groups for s in g
               if isinstance(s, MergedStep))
    assert opts.label() == "nhwc+pack"


def test_check_accepts_options(traced) -> None:
    result = check(traced, lever_schedule(traced, "merge_reversed"), options=ALL)
    assert result.ok and result.rel_err < 1e-5


def test_plain_options_build_the_plain_plan(traced) -> None:
    for opts in (EngineOptions(),):
        compiled = compile_schedule(traced, lever_schedule(traced, "merge_reversed"), options=opts)
        assert compiled.options.is_plain and compiled.options.label() == "plain"
        for plan in compiled._plans:
            assert plan.lanes == () and plan.allocs == ()
            assert all(type(s) in (OpStep, MergedStep) for g in plan.groups for s in g)
        assert set(compiled.lever_report()) == {"options", "streams"}


def test_hand_schedules_unchanged_by_levers() -> None:
    # hand kernels are plain lambdas: no lever recognises them, results stay exact
    tr = hand_traced(batch=1)
    x = torch.randn(tr.graph.inputs[0].shape)
    for stages in SCHEDULES.values():
        schedule = make_schedule(tr.graph, stages)
        plain = compile_schedule(tr, schedule)(x)
        for a, b in zip(plain, compile_schedule(tr, schedule, options=ALL)(x), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# ---- concat -----------------------------------------------------------------------------------
def test_merged_fire_concat_becomes_a_view(traced) -> None:
    compiled = compile_schedule(traced, lever_schedule(traced, "merge_reversed"),
                                options=EngineOptions(concat="view"))
    compiled(_x(traced))
    merged = next(s for p in compiled._plans for g in p.groups for s in g
                  if isinstance(s, MergedStep))
    assert merged.names == ("e1", "e3")  # reordered to the concat's order
    assert compiled.lever_report()["concat"] == {"view": 1, "copy": 1}


@pytest.mark.parametrize("opts", [EngineOptions(concat="view"),
                                  replace(ALL, channels_last=True, pack_slices=True,
                                          strided_views=True)], ids=["nchw", "nhwc"])
def test_merge_stage_ending_in_its_concat_makes_it_a_view(traced, opts) -> None:
    compiled = compile_schedule(traced, lever_schedule(traced, "merge_with_cat"), options=opts)
    x = _x(traced)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), traced.module(x), rtol=1e-4, atol=1e-4)
    plan = next(p for p in compiled._plans if p.strategy == "merge")
    (group,) = plan.groups
    assert [type(s).__name__ for s in group] == ["MergedStep", "ConcatStep"]
    assert group[0].names == ("e1", "e3")  # the concat's order, not the stage's
    assert compiled.lever_report()["concat"].get("view") == 1


def test_inplace_sums_write_into_the_concat(traced) -> None:
    for name in ("merge_reversed", "wide"):
        compiled = compile_schedule(traced, lever_schedule(traced, name),
                                    options=EngineOptions(concat="inplace"))
        compiled(_x(traced))
        report = compiled.lever_report()
        assert report["slots"] == {"slot": 2}, name
        assert report["concat"]["inplace"] == 1, name  # cat_1 copies only its first input


def test_inplace_falls_back_at_batch_2(traced_b2) -> None:
    compiled = compile_schedule(traced_b2, lever_schedule(traced_b2, "merge_reversed"),
                                options=EngineOptions(concat="inplace"))
    compiled(_x(traced_b2))
    report = compiled.lever_report()
    assert "slots" not in report and report["concat"] == {"copy": 2}


def test_adjacent_view() -> None:
    base = torch.randn(1, 7, 3, 3)
    a, b, c = base[:, :2], base[:, 2:5], base[:, 5:]
    view = adjacent_view([a, b, c], (1, 7, 3, 3), 1)
    assert view is not None and view.data_ptr() == base.data_ptr()
    torch.testing.assert_close(view, torch.cat([a, b, c], 1))
    assert adjacent_view([b, a], (1, 5, 3, 3), 1) is None  # wrong order
    assert adjacent_view([a, c], (1, 4, 3, 3), 1) is None  # a gap
    other = torch.randn(1, 3, 3, 3)
    assert adjacent_view([a, other], (1, 5, 3, 3), 1) is None  # another storage
    wide = torch.randn(2, 7, 3, 3)
    assert adjacent_view([wide[:, :2], wide[:, 2:]], (2, 7, 3, 3), 1) is None


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("batch", [1, 2])
def test_strided_view_of_consecutive_slices(layout: str, batch: int) -> None:
    base = torch.randn(batch, 7, 3, 3)
    if layout == "nhwc":
        base = base.contiguous(memory_format=torch.channels_last)
    a, b, c = base[:, :2], base[:, 2:5], base[:, 5:]
    view = strided_view([a, b, c], (batch, 7, 3, 3), 1)
    assert view is not None and view.data_ptr() == base.data_ptr()
    assert view.stride() == base.stride()
    torch.testing.assert_close(view, torch.cat([a, b, c], 1))
    part = strided_view([b, c], (batch, 5, 3, 3), 1)  # need not start at channel 0
    assert part is not None
    torch.testing.assert_close(part, torch.cat([b, c], 1))
    assert strided_view([b, a], (batch, 5, 3, 3), 1) is None  # wrong order
    assert strided_view([a, c], (batch, 4, 3, 3), 1) is None  # a gap
    other = torch.randn(batch, 3, 3, 3)
    assert strided_view([a, other], (batch, 5, 3, 3), 1) is None  # another storage
    assert strided_view([a, b], (batch, 7, 3, 3), 1) is None  # shape does not add up


def test_strided_views_make_merged_concats_views_under_nhwc(traced, traced_b2) -> None:
    from tests._hand_models import make_schedule

    opts = replace(ALL, channels_last=True, pack_slices=True, strided_views=True)
    for tr in (traced, traced_b2):
        x = _x(tr)
        with torch.no_grad():
            want = tr.module(x)
        compiled = compile_schedule(tr, make_schedule(tr.graph, PACK_SCHEDULE), options=opts)
        torch.testing.assert_close(compiled(x), want, rtol=1e-4, atol=1e-4)
        modes = compiled.lever_report()["concat"]
        assert modes.get("view") == 1, modes  # cat(e1, e3) is the merged conv's output
        without = compile_schedule(tr, make_schedule(tr.graph, PACK_SCHEDULE),
                                   options=replace(opts, strided_views=False))
        without(x)
        assert "view" not in without.lever_report()["concat"]


# ---- fused convolutions (CUDA only: plumbing tested with stand-ins on the CPU) ----------------
def _fake_ops(monkeypatch, calls: dict[str, int], fail: bool = False) -> None:
    monkeypatch.setattr(fused_conv, "FUSED_DEVICES", {"cpu", "cuda"})

    def conv_relu(x, w, b, stride, padding, dilation, groups):
        calls["conv_relu"] = calls.get("conv_relu", 0) + 1
        if fail:
            raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED (stand-in)")
        return F.relu(F.conv2d(x, w, b, stride, padding, dilation, groups))

    def conv_add_relu(x, w, z, b, stride, padding, dilation, groups):
        calls["conv_add_relu"] = calls.get("conv_add_relu", 0) + 1
        if fail:
            raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED (stand-in)")
        return F.relu(F.conv2d(x, w, b, stride, padding, dilation, groups) + z)

    monkeypatch.setattr(fused_conv, "_cudnn_conv_relu", conv_relu)
    monkeypatch.setattr(fused_conv, "_cudnn_conv_add_relu", conv_add_relu)


@pytest.mark.parametrize("fail", [False, True])
def test_fused_paths_and_their_fallback(traced, monkeypatch, fail: bool) -> None:
    calls: dict[str, int] = {}
    _fake_ops(monkeypatch, calls, fail)
    opts = EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True)
    x = _x(traced)
    for name in ("merge_reversed", "sequential_like"):
        schedule = lever_schedule(traced, name)
        plain = compile_schedule(traced, schedule, options=EngineOptions())(x)
        compiled = compile_schedule(traced, schedule, options=opts)
        for _ in range(2):  # a refusal is tried once, then the plain path stays
            torch.testing.assert_close(compiled(x), plain, rtol=1e-5, atol=1e-5)
        report = compiled.lever_report()
        convs = 2 if name == "merge_reversed" else 3  # squeeze, merged e1+e3 | e1, e3
        mode = "plain" if fail else "fused"
        assert report["conv_relu"] == {mode: convs}, name
        assert report["conv_add_relu"] == {mode: 1}, name
        assert ("conv_relu_refused" in report) == fail
    per_run = {"conv_relu": 2 + 3, "conv_add_relu": 2}  # both schedules, one run each
    runs = 3  # compile (static outputs) and two calls; a refused kernel is tried only once
    assert calls == (per_run if fail else {k: runs * v for k, v in per_run.items()})


def test_fused_conv_not_used_on_cpu(traced) -> None:
    compiled = compile_schedule(traced, lever_schedule(traced, "sequential_like"),
                                options=EngineOptions(fuse_conv_relu=True,
                                                      fuse_conv_add_relu=True))
    compiled(_x(traced))
    report = compiled.lever_report()
    assert report["conv_relu"] == {"plain": 3} and report["conv_add_relu"] == {"plain": 1}
    assert "conv_relu_refused" not in report  # not refused: never tried off CUDA


def test_conv_add_pairs_need_a_lone_conv(traced) -> None:
    g, k = traced.graph, traced.kernels
    assert fused_conv.conv_add_pairs(g, k, ["conv_q", "conv_r", "add_2"]) == {"add_2": "conv_r"}
    assert fused_conv.conv_add_pairs(g, k, ["add_2"]) == {}  # the convs ran in another stage
    assert fused_conv.conv_add_pairs(g, k, ["conv_a", "conv_b", "add"]) == {}  # add has no ReLU


# ---- streams ------------------------------------------------------------------------------------
def test_assign_lanes(traced) -> None:
    g = traced.graph
    groups = [["fc"], ["conv_r"], ["add"], ["conv_a"]]  # conv_r and conv_a carry the FLOPs
    assert assign_lanes(g, groups, EngineOptions()) == ()
    order = assign_lanes(g, groups, EngineOptions(order="longest-first"))
    assert order[0] == (1,) and sorted(order) == [(0,), (1,), (2,), (3,)]
    lanes = assign_lanes(g, groups, EngineOptions(stream_cap=2))
    assert len(lanes) == 2 and sorted(i for lane in lanes for i in lane) == [0, 1, 2, 3]
    assert lanes[0][0] == 1 and lanes[1][0] == 3  # the two longest lead their streams
    single = assign_lanes(g, groups, EngineOptions(stream_cap=1))
    assert len(single) == 1 and single[0][:2] == (1, 3)


def test_stream_cap_sets_plan_width(traced) -> None:
    schedule = lever_schedule(traced, "wide")
    for cap, width in ((None, 3), (2, 2), (1, 1)):
        compiled = compile_schedule(traced, schedule, options=EngineOptions(stream_cap=cap))
        assert max(p.width for p in compiled._plans) == width


# ---- settings -----------------------------------------------------------------------------------
def test_options_validate_and_label() -> None:
    with pytest.raises(ValueError, match="concat"):
        EngineOptions(concat="zero-copy")
    with pytest.raises(ValueError, match="order"):
        EngineOptions(order="random")
    with pytest.raises(ValueError, match="stream_cap"):
        EngineOptions(stream_cap=0)
    assert ALL.label() == "fused+add+inplace+bench+longest+prio"
    assert EngineOptions(stream_cap=4, channels_last=True).label() == "nhwc+cap4"


def test_cudnn_benchmark_is_restored() -> None:
    before = torch.backends.cudnn.benchmark
    with cudnn_benchmark(True):
        assert torch.backends.cudnn.benchmark
    assert torch.backends.cudnn.benchmark == before
    with cudnn_benchmark(False):
        assert torch.backends.cudnn.benchmark == before


def test_channels_last_inputs_and_weights(traced) -> None:
    opts = EngineOptions(channels_last=True)
    compiled = compile_schedule(traced, lever_schedule(traced, "merge_reversed"), options=opts)
    assert compiled.static_inputs[0].is_contiguous(memory_format=torch.channels_last)
    weights = [s.conv.weight for p in compiled._plans for g in p.groups for s in g
               if isinstance(s, MergedStep)]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)

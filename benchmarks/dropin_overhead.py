"""Where ``torch.compile(model, backend="ios")`` spends its time per call, beside optimize_module.

    python -m benchmarks.dropin_overhead      # CUDA only; googlenet, inception_v3, resnet50

Both run the same schedule (searched with the simulated H100, no cache: the schedule is not what
is compared). For each, 200 calls after 20 warm-ups: host milliseconds per call (Python returns)
and wall milliseconds per call (after a final synchronize); then the torch profiler's CPU view of
20 backend calls, whose rows split Dynamo's part (cache lookup = guards, pre-graph bytecode) from
ours (input copy, CUDA graph launch, output clone). Prints; the figures of 2026-12-03 are in
benchmarks/results/h200-dropin.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

import ios_core
from ios_core.dropin.backend import ios_backend
from sample_models.zoo import import_torchvision

MODELS = {"googlenet": 224, "inception_v3": 299, "resnet50": 224}


def per_call_ms(fn: Callable[[], object], calls: int = 200) -> tuple[float, float]:
    """(host ms, wall ms) per call of ``fn`` over ``calls`` calls after 20 warm-ups."""
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    host = (time.perf_counter() - t) / calls * 1e3
    torch.cuda.synchronize()
    return host, (time.perf_counter() - t) / calls * 1e3


def probe(torchvision, name: str, size: int) -> None:
    """Time and profile one model's two drop-ins (module docstring); print the figures."""
    kwargs = {} if name == "resnet50" else {"init_weights": False}
    if name == "inception_v3":
        kwargs["aux_logits"] = False
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval().cuda()
    x = torch.randn(1, 3, size, size, device="cuda")
    torch._dynamo.reset()
    module = ios_core.optimize_module(model, (x,), cost="simulated:h100", cache=False)
    options = {"cost": "simulated:h100", "cache": False}
    runners: list = []  # the backend's compiled graphs, to compare their plans with the module's

    def kept(gm, example_inputs):
        runners.append(ios_backend(gm, example_inputs, options))
        return runners[-1]

    compiled = torch.compile(model, backend=kept)
    with torch.no_grad():
        times = {"optimize_module": per_call_ms(lambda: module(x)),
                 "torch.compile ios": per_call_ms(lambda: compiled(x))}
        prof = _profiled(lambda: compiled(x))
        plain = _profiled(lambda: module(x))
        # Dynamo's knob that skips its guards once every variant is compiled (at the user's risk:
        # a changed input then runs the wrong graph): how much of the gap the guards are
        with torch.compiler.set_stance("default", skip_guard_eval_unsafe=True):
            times["torch.compile ios, guards skipped"] = per_call_ms(lambda: compiled(x))
    print(name, {k: f"host {h:.3f} ms, wall {w:.3f} ms" for k, (h, w) in times.items()})
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=8))
    plans = {"optimize_module": [plan for plan in module.plans.values()],
             "torch.compile ios": [plan for r in runners for m in r.modules.values()
                                   if m is not None for plan in m.plans.values()]}
    for label, p in (("torch.compile ios", prof), ("optimize_module", plain)):
        waits = [e for e in p.key_averages() if any(w in e.key for w in WAITS)]
        print(name, label, "host waits and copies in 20 calls:",
              {e.key: e.count for e in waits} or "none")
        print(name, label, "plans:", [_plan_text(plan) for plan in plans[label]])
        kernels = sorted((e for e in p.key_averages() if e.device_time_total > 0
                          and e.device_type == torch.autograd.DeviceType.CUDA),
                         key=lambda e: -e.device_time_total)
        total = sum(e.device_time_total for e in kernels) / 20
        count = sum(e.count for e in kernels) / 20
        print(name, label, f"GPU µs per call {total:.1f} in {count:.0f} kernels; top:",
              [(e.key[:50], e.count // 20, round(e.device_time_total / 20, 1))
               for e in kernels[:8]])


WAITS = ("ynchronize", "_local_scalar_dense", "aten::item", "Memcpy", "EventQuery", "cudaFree",
         "cudaMalloc")


def _plan_text(plan: object) -> str:
    schedule = plan.schedule
    return (f"{len(plan.traced.graph)} ops, {len(schedule.stages)} stages, "
            f"{schedule.search.strategy}, source {plan.source}, "
            f"CUDA graph {plan.compiled.uses_cuda_graph}, {plan.compiled.num_streams} streams")


def _profiled(fn: Callable[[], object]) -> torch.profiler.profile:
    """The torch profiler's CPU and CUDA-runtime view of 20 calls of ``fn``."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
    return prof


def main() -> int:
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.dropin_overhead needs a CUDA GPU")
    import_torchvision()
    import torchvision

    for name, size in MODELS.items():
        probe(torchvision, name, size)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())

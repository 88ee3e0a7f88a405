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
    compiled = torch.compile(model, backend="ios",
                             options={"cost": "simulated:h100", "cache": False})
    with torch.no_grad():
        times = {"optimize_module": per_call_ms(lambda: module(x)),
                 "torch.compile ios": per_call_ms(lambda: compiled(x))}
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(20):
                compiled(x)
    print(name, {k: f"host {h:.3f} ms, wall {w:.3f} ms" for k, (h, w) in times.items()})
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


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

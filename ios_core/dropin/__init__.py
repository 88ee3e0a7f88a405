"""The drop-in: IOS schedules in one's own PyTorch code.

* :func:`optimize_module` (:mod:`~ios_core.dropin.module`): a model and example inputs in, an
  ``nn.Module`` out whose forward runs the schedule with the executor (on CUDA one multi-stream
  CUDA graph), one schedule per input shape;
* ``torch.compile(model, backend="ios")`` (:mod:`~ios_core.dropin.backend`): Dynamo captures
  (graph breaks and data-dependent Python the PyTorch way), each captured graph is scheduled;
* :class:`ScheduleCache` (:mod:`~ios_core.dropin.cache`): schedules and stage profiles on disk
  (``$IOS_CACHE_DIR`` or ``~/.cache/ios-explorer``), so a second start searches nothing.

Both doors build their runnable through :func:`~ios_core.dropin.plan.build_plan` (trace, cache or
search, compile, check against the model's forward); :mod:`~ios_core.dropin.settings` holds the
knobs. Importing this package registers the ``ios`` backend with torch.compile (it imports
``torch._dynamo``, about a second); an installed package needs not even that (its entry point).
"""

from ios_core.dropin.backend import BACKEND_NAME, ios_backend, register_backend
from ios_core.dropin.cache import ScheduleCache
from ios_core.dropin.module import OptimizedModule, optimize_module
from ios_core.dropin.plan import DropinError, Plan
from ios_core.dropin.settings import DropinSettings, DropinWarning, default_cache_dir

__all__ = [
    "BACKEND_NAME", "DropinError", "DropinSettings", "DropinWarning", "OptimizedModule", "Plan",
    "ScheduleCache", "default_cache_dir", "ios_backend", "optimize_module", "register_backend",
]

register_backend()

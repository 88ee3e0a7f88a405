"""Running a schedule with torch: the lowering, the engine, the executor and GPU timing.

This room turns a :class:`~ios_core.ir.schedule.Schedule` of a traced model into work on a device,
and runs it. It sits above ``ir`` and ``frontend`` and below ``cost``: it never asks a cost model.

How a schedule runs
    :func:`~ios_core.runtime.executor.compile_schedule` checks the schedule, lowers it, and on
    CUDA captures the whole run in ONE CUDA graph; ``compiled(x)`` replays it. The lowering
    (:mod:`~ios_core.runtime.lowering`) goes, in this order: move each kernel to the device,
    prepare it (:mod:`~ios_core.runtime.prepare`), plan the concats on the prepared kernels
    (:mod:`~ios_core.runtime.concat_views`), build each stage's plan
    (:mod:`~ios_core.runtime.stage_builder`). A plan is groups of steps
    (:mod:`~ios_core.runtime.steps`); :func:`~ios_core.runtime.engine.run_stage` runs one, on the
    current stream or with each group on its own stream, forked from and joined back onto the
    current stream by events, so a stage never synchronises the device.

One lowering for running and measuring
    The measured cost model (``ios_core.cost.measured``) builds every stage it times through the
    same :class:`~ios_core.runtime.lowering.Lowering` and runs it through the same engine, so a
    prediction is a measurement of what the executor runs.

Levers, and what "default" means
    :class:`~ios_core.runtime.options.EngineOptions` names the speed levers (fused cuDNN
    conv+ReLU and conv+add+ReLU, concats as views or filled in place, NHWC tensors, 3-d pools,
    cudnn.benchmark, stream caps, launch order and priority, and compiled epilogues of fused
    regions, ``fuse_epilogues``: opt-in, with the graph's regions fused by
    :mod:`~ios_core.runtime.fuse_switch`). ``options=None`` everywhere means
    ``DEFAULT_OPTIONS``, the levers that paid in the H100 ablations
    (:func:`~ios_core.runtime.options.resolve_options` is the one place that says so);
    ``PLAIN_OPTIONS`` (``EngineOptions()``) is the plain path: one kernel per operator, NCHW,
    concats copied, one stream per group. No lever changes what is computed, only how; one that
    cannot apply (a CUDA-only op on the CPU, a refused cuDNN call) falls back to the plain path.

The modules, one concept each
    ``options`` (levers and labels), ``lowering`` (the one lowering), ``prepare`` (kernel-level
    levers), ``stage_builder`` (a stage as steps), ``steps`` (step types and ``StagePlan``),
    ``engine`` (running plans, streams, CUDA graph capture, cudnn.benchmark), ``executor`` (the
    compiled schedule, ``check``), ``timing`` (the one GPU timing function), ``merged_conv`` (a
    merge stage's wide conv), ``fused_conv`` (fused cuDNN calls), ``concat_views`` (concat views,
    slots, buffers), ``kernel_patterns`` (recognising plain sums and cats), ``channels_last``
    (NHWC tensors), ``nhwc_pool`` (NHWC pooling), ``lanes`` (groups onto streams), ``epilogue``
    (a region's compiled pointwise epilogue), ``fuse_switch`` (the ``--fuse-epilogues`` switch:
    regions fused, the lever on, recorded in and read from a schedule), ``conv_layouts`` (which
    grouped convs run NCHW, timed on the device: the ``conv_layouts`` lever).
"""

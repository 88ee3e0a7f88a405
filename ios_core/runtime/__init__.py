"""Running a schedule: lowering, the engine, the executor and GPU timing.

A :class:`~ios_core.ir.schedule.Schedule` and the frontend's kernels are lowered into stages of
steps (fused cuDNN convs, merged wide convs, concat views, NHWC pools), run on the CPU in order or
on CUDA streams joined by events inside one CUDA graph. The measured cost model times stages
built by the very same lowering, so a prediction is a measurement of what the executor runs.
"""

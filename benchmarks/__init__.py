"""Benchmarks of IOS Explorer: each script is a module, run from the repository root.

    python -m benchmarks.ios_table --quick          # the IOS table on this GPU (every method)
    python -m benchmarks.ablation --out-dir $OUT    # the engine's speed levers side by side (GPU)
    python -m benchmarks.merge_tables RUN.json ...  # join IOS tables of several runs (CPU)
    python -m benchmarks.stage_probe                # stage sums vs whole schedules (GPU)
    python -m benchmarks.kernel_census              # kernels per inference, torch.profiler (GPU)
    python -m benchmarks.pool_probe                 # NHWC pooling kernels (GPU)
    python -m benchmarks.dp_search                  # search speed on the simulated H100 (CPU)
    python -m benchmarks.calibrate                  # fit the simulated H100 to profiles (CPU)
    python -m benchmarks.rekey_profiles DB.json     # re-key a profile database (CPU)

Each takes ``--help``. What they share is in two modules: :mod:`benchmarks.report` (the JSON and
Markdown results files rewritten after every row, Markdown tables, logs, ``--out-dir``; no torch)
and :mod:`benchmarks.harness` (the results header with device, versions and date, time limits,
model runs, one row at a time). Results go to ``--out-dir`` (default ``$OUT`` when set, else
``benchmarks/results/``, whose README says which command made which file).
"""

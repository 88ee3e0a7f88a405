"""Fuzzing the schedule loader and the CLI: random bytes, random JSON and mutated valid schedules
give a schedule or one clear error, never a traceback and never a hang.

Seeded (``IOS_FUZZ_SEED``, default 0), so a failure replays; ``IOS_FUZZ_SCALE`` multiplies the
case counts for a longer hunt. The loader cases run in-process by the thousand; ``show``, ``run``
and ``export`` run through ``ios_core.cli.main.main`` on ``ios_demo`` with its trace cached, so
that a case costs milliseconds rather than a model build.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import signal
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ios_core.cli import main as cli
from ios_core.ir.schedule import Schedule, ScheduleError

SEED = int(os.environ.get("IOS_FUZZ_SEED", "0"))
SCALE = float(os.environ.get("IOS_FUZZ_SCALE", "1"))
PROFILES = Path(__file__).resolve().parents[1] / "ios_core" / "data" / "profiles"
VALID = [PROFILES / f"h100-ios_demo-b1.{s}.schedule.json" for s in
         ("sequential", "greedy", "ios-merge", "ios-parallel", "ios-both")]


@contextmanager
def deadline(seconds: int, what: str) -> Iterator[None]:
    """Fail (rather than hang) when the block takes longer than ``seconds``."""
    def expired(signum, frame):
        raise TimeoutError(f"{what} took more than {seconds} s: a hang?")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---- case generators -----------------------------------------------------------------------------
def random_scalar(rng: random.Random, names: list[str]) -> Any:
    return rng.choice([
        None, True, False, 0, 1, -1, 3, 2**63, 10**40, 0.5, -2.5, 1e308, float("nan"),
        float("inf"), "", "x", "concurrent", "merge", "ios_demo", "ios-schedule/1",
        "".join(rng.choices(string.printable, k=rng.randint(1, 12))),
        rng.choice(names) if names else "a", [], {}, [rng.choice(names or ["a"])],
    ])


def random_json(rng: random.Random, names: list[str], depth: int = 0) -> Any:
    kind = rng.random()
    if depth > 4 or kind < 0.4:
        return random_scalar(rng, names)
    if kind < 0.7:
        return [random_json(rng, names, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["format", "model", "target", "search", "stages", "name", "groups", "strategy",
            "predicted_ms", "batch", "stats", "r", "s", *rng.sample(names, min(2, len(names)))]
    return {rng.choice(keys): random_json(rng, names, depth + 1) for _ in range(rng.randint(0, 5))}


def _containers(doc: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, doc
    items = (doc.items() if isinstance(doc, dict)
             else enumerate(doc) if isinstance(doc, list) else ())
    for key, value in items:
        if isinstance(value, (dict, list)):
            yield from _containers(value, (*path, key))


def mutate(doc: dict, rng: random.Random, names: list[str]) -> Any:
    """``doc`` (a valid schedule's JSON, changed in place) with one to three random edits:
    delete, replace, retype, or move an operator name (duplicated, dropped, swapped)."""
    for _ in range(rng.randint(1, 3)):
        spots = [(p, c) for p, c in _containers(doc) if c]
        if not spots:
            return doc
        _, box = rng.choice(spots)
        key = rng.choice(list(box)) if isinstance(box, dict) else rng.randrange(len(box))
        action = rng.random()
        if action < 0.25:
            del box[key]
        elif action < 0.55:
            box[key] = random_scalar(rng, names)
        elif action < 0.7:
            box[key] = random_json(rng, names, 3)
        elif action < 0.85 and isinstance(box, list):
            box.insert(rng.randrange(len(box) + 1), copy.deepcopy(box[key]))  # duplicate
        else:
            stages = doc.get("stages") if isinstance(doc, dict) else None
            groups = [g for st in (stages if isinstance(stages, list) else [])
                      if isinstance(st, dict) and isinstance(st.get("groups"), list)
                      for g in st["groups"] if isinstance(g, list) and g]
            if len(groups) >= 2:
                a, b = rng.sample(groups, 2)
                i, j = rng.randrange(len(a)), rng.randrange(len(b))
                a[i], b[j] = b[j], a[i]  # swap two operators between groups
    return doc


def cases(rng: random.Random, n: int) -> Iterator[bytes]:
    """``n`` files: random bytes, random JSON, mutated valid schedules (text also cut or
    flipped), and a few pathological ones (deep nesting, huge numbers)."""
    texts = [p.read_text() for p in VALID]
    docs = [json.loads(t) for t in texts]
    names = sorted({n for d in docs for st in d["stages"] for g in st["groups"] for n in g})
    yield b"[" * 50_000 + b"]" * 50_000  # deeper than the JSON parser recurses
    yield b'{"format": "ios-schedule/1", "target": {"batch": 1' + b"0" * 5000 + b"}}"
    yield "\ufeff".encode() + VALID[0].read_bytes()
    for _ in range(n):
        pick = rng.random()
        if pick < 0.15:
            yield bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        elif pick < 0.3:
            yield json.dumps(random_json(rng, names)).encode()
        else:
            text = json.dumps(mutate(json.loads(rng.choice(texts)), rng, names)).encode()
            if rng.random() < 0.1:
                text = text[: rng.randrange(len(text) + 1)]
            elif rng.random() < 0.1:
                i = rng.randrange(len(text))
                text = text[:i] + bytes([rng.getrandbits(8)]) + text[i + 1:]
            yield text


# ---- the loader ----------------------------------------------------------------------------------
def test_loader_gives_a_schedule_or_a_schedule_error() -> None:
    rng = random.Random(SEED)
    kinds = {"ok": 0, "error": 0}
    with deadline(int(120 * SCALE), "3000 loader cases"):
        for i, data in enumerate(cases(rng, int(3000 * SCALE))):
            try:
                Schedule.loads(data)
                kinds["ok"] += 1
            except ScheduleError as e:
                assert str(e) and "\n" not in str(e), (i, data[:200])
                kinds["error"] += 1
            except Exception as e:  # noqa: BLE001 - the point of the test
                pytest.fail(f"case {i} (seed {SEED}): {type(e).__name__}: {e}; input "
                            f"{data[:300]!r}")
    assert kinds["ok"] > 50 and kinds["error"] > 1000, kinds  # both paths were exercised


# ---- the commands --------------------------------------------------------------------------------
@pytest.fixture
def cached_model(monkeypatch):
    """``load_traced`` memoised on (model, batch, leaf modules): fuzz cases share one trace."""
    real = cli.load_traced

    @functools.lru_cache(maxsize=8)
    def load(ref: str, batch: int, leaves: tuple, seed: int):
        args = type("Args", (), {"seed": seed, "leaf_module": list(leaves), "quiet": True})()
        return real(args, ref, batch, lambda text: None)

    def cached(args, ref, batch, say, plan=None):
        return load(ref, batch, tuple(getattr(args, "leaf_module", None) or ()),
                    getattr(args, "seed", 0))

    monkeypatch.setattr(cli, "load_traced", cached)


def test_show_run_and_export_give_results_or_one_clear_error(tmp_path, capsys,
                                                             cached_model) -> None:
    rng = random.Random(SEED + 1)
    path, out = tmp_path / "case.json", tmp_path / "out"
    commands = [  # (weight, argv): running a schedule costs most, so it is drawn least
        (6, ["show", path]),
        (6, ["export", path, "--csv", out.with_suffix(".csv"), "--trace",
             out.with_suffix(".json"), "-q"]),
        (3, ["export", path, "--dot", out.with_suffix(".dot"), "-q"]),
        (3, ["run", path, "--device", "cpu", "-q"]),
        (2, ["run", path, "--device", "cpu", "--check", "-q"]),
    ]
    weights, argvs = zip(*commands, strict=True)
    seen: dict[int, int] = {}
    with deadline(int(300 * SCALE), "the CLI cases"):
        for i, data in enumerate(cases(rng, int(200 * SCALE))):
            path.write_bytes(data)
            argv = [str(a) for a in rng.choices(argvs, weights)[0]]
            rc = cli.main(argv)
            text, err = capsys.readouterr()
            where = f"case {i} (seed {SEED + 1}): {' '.join(argv[:1])} on {data[:300]!r}"
            assert "Traceback" not in text + err, where
            assert rc in (0, 2), f"{where}: status {rc}: {err}"
            if rc == 2:
                assert err.startswith("error: ") and err.count("error:") == 1, f"{where}: {err}"
            seen[rc] = seen.get(rc, 0) + 1
    assert seen.get(0, 0) > 5 and seen.get(2, 0) > 50, seen

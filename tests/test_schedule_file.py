"""The ios-schedule/1 file: round trip, and every kind of bad file refused with its own message."""

from __future__ import annotations

import json

import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.ir.schedule import Schedule, ScheduleError, validate_schedule
from ios_core.search import SearchConfig, optimize
from tests._graphs_cost import Builder


def graph():
    """x -> a (1x1), x -> b (3x3): mergeable; a -> c; p = pool(x) (never mergeable); concat."""
    g = Builder("file_test", (1, 32, 14, 14))
    g.conv("a", "x", 32, k=1)
    g.conv("b", "x", 32, k=3)
    g.conv("c", "a", 32, k=3)
    g.pool("p", "x")
    g.concat("cat", ["c", "b", "p"])
    return g.build()


def saved(**change) -> dict:
    """A valid schedule file (as JSON data) with stages replaced by ``stages=`` if given."""
    data = optimize(graph(), "sequential", SimulatedCost("h100"), SearchConfig()).to_json()
    if "stages" in change:
        data["stages"] = [{"strategy": s, "groups": g, "predicted_ms": 0.01}
                          for s, g in change.pop("stages")]
    for path, value in change.items():
        section, key = path.split("__")
        data[section][key] = value
    return data


def refused(data) -> str:
    with pytest.raises(ScheduleError) as err:
        text = data if isinstance(data, str) else json.dumps(data)
        validate_schedule(Schedule.loads(text), graph())
    return str(err.value)


def test_round_trip_keeps_everything() -> None:
    g = graph()
    schedule = optimize(g, "ios-both", SimulatedCost("h100"), SearchConfig())
    again = Schedule.loads(schedule.dumps())
    assert again == schedule
    validate_schedule(again, g)


def test_truncated_file() -> None:
    text = json.dumps(saved())
    assert "not valid JSON" in refused(text[: len(text) // 2])


def test_unknown_format_version() -> None:
    data = saved()
    data["format"] = "ios-schedule/9"
    assert "unknown schedule format 'ios-schedule/9'" in refused(data)


def test_operator_missing() -> None:
    stages = [("concurrent", [["a"]]), ("concurrent", [["b"]]), ("concurrent", [["c"]]),
              ("concurrent", [["cat"]])]
    assert "operator 'p' is missing" in refused(saved(stages=stages))


def test_operator_repeated() -> None:
    stages = [("concurrent", [["a"], ["b"]]), ("concurrent", [["a"]]), ("concurrent", [["c"]]),
              ("concurrent", [["p"]]), ("concurrent", [["cat"]])]
    assert "'a' is scheduled twice (stages 1 and 2)" in refused(saved(stages=stages))


def test_dependency_violated_inside_a_stage() -> None:
    stages = [("concurrent", [["a"], ["c"], ["b"], ["p"]]), ("concurrent", [["cat"]])]
    assert "another group of the same stage" in refused(saved(stages=stages))
    stages = [("concurrent", [["c", "a"], ["b"], ["p"]]), ("concurrent", [["cat"]])]
    assert "comes before 'a'" in refused(saved(stages=stages))


def test_dependency_violated_across_stages() -> None:
    stages = [("concurrent", [["b"], ["p"]]), ("concurrent", [["c"]]), ("concurrent", [["a"]]),
              ("concurrent", [["cat"]])]
    assert "'c' (stage 2) reads 'a', which is scheduled in a later stage" in refused(
        saved(stages=stages))


def test_illegal_merge() -> None:
    stages = [("merge", [["a", "p"]]), ("concurrent", [["b"]]), ("concurrent", [["c"]]),
              ("concurrent", [["cat"]])]
    assert "illegal merge in stage 1" in refused(saved(stages=stages))


def test_legal_merge_is_accepted() -> None:
    stages = [("merge", [["a", "b"]]), ("concurrent", [["c"], ["p"]]), ("concurrent", [["cat"]])]
    validate_schedule(Schedule.loads(json.dumps(saved(stages=stages))), graph())


def test_schedule_for_another_model() -> None:
    assert "made for another model" in refused(saved(model__fingerprint="0123456789abcdef"))


@pytest.mark.parametrize("knob", ["search__r", "search__s"])
def test_r_or_s_below_one(knob: str) -> None:
    assert "r and s must be at least 1" in refused(saved(**{knob: 0}))


def test_missing_field_and_wrong_type() -> None:
    data = saved()
    del data["target"]
    assert "schedule has no 'target' field" in refused(data)
    assert "stage 1.predicted_ms" in refused(
        saved(stages=[("concurrent", [["a"]])]) | {"stages": [
            {"strategy": "concurrent", "groups": [["a"]], "predicted_ms": "fast"}]})


def test_atomic_write_leaves_no_temporary_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch
                                                                            ) -> None:
    from ios_core.ir import files

    target = tmp_path / "s.json"
    files.atomic_write_text(target, "old")
    files.atomic_write_text(target, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"] and target.read_text() == "new"

    def no_rename(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", no_rename)
    with pytest.raises(OSError):
        files.atomic_write_text(target, "torn")
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"] and target.read_text() == "new"

"""The live-GPU path of the app: measure stages and search on the attached GPU from the Optimize
page, under AppTest. Runs where CUDA, streamlit and plotly are all present (the lent H100, with
streamlit's wheels carried there); skipped elsewhere."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")
torch = pytest.importorskip("torch")

from tests.test_app import fresh, goto, metric, ok  # noqa: E402

pytestmark = [pytest.mark.cuda, pytest.mark.usefixtures("app_in_one_run")]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_optimize_page_measures_and_searches_on_the_gpu() -> None:
    at = fresh()
    assert at.selectbox(key="w_cost").options[0].startswith("Live GPU")  # offered first
    at.selectbox(key="w_cost").select("measured").run()
    at = ok(goto(at, "optimize"))
    latency = float(metric(at, "Latency").split()[0])
    speedup = float(metric(at, "Speedup over sequential").rstrip("×"))
    assert latency > 0 and speedup >= 1.0
    stats = {row["statistic"]: row["value"] for row in at.dataframe[0].value.to_dict("records")}
    assert int(stats["stages costed"]) > 100  # every stage the DP asked for was measured here
    print(f"live GPU ({torch.cuda.get_device_name()}): ios-both {latency} ms, "
          f"{speedup}x over sequential, stats {stats}")

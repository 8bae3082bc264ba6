"""Trend tables (seed 001 Figs. 5-11, Table 1) and their holoviews plots."""

import numpy as np
import pandas as pd
import pytest

from satlab import plot, trends
from satlab.errors import InputError, SatlabWarning


def archive_index(months=24, per_day=4, start="2020-02-01"):
    times = pd.date_range(start, periods=months * 30 * per_day, freq=f"{24 // per_day}h")
    return pd.DataFrame({"frame": np.arange(len(times)), "time": times})


def test_linear_trend_recovers_slope_and_band():
    rng = np.random.default_rng(1)
    x = np.linspace(2000, 2020, 200)
    y = 3.0 - 0.05 * (x - 2000) + rng.normal(0, 0.2, x.size)
    t = trends.linear_trend(x, y)
    assert t["slope"] == pytest.approx(-0.05, abs=3 * t["slope_err"])
    assert t["slope_err"] == pytest.approx(0.2 / np.sqrt(((x - x.mean()) ** 2).sum()), rel=0.15)
    assert np.all(t["lo"] < t["fit"]) and np.all(t["fit"] < t["hi"])
    # the band of the mean is narrowest at the centre of the data
    width = t["hi"] - t["lo"]
    assert width[100] < width[0] and width[100] < width[-1]
    assert np.isnan(trends.linear_trend([1, 2], [3, 4])["slope"])


def test_monthly_rate_counts_percent_and_trend():
    index = archive_index(months=24)
    # trails in every 50th frame during the first year, every 25th in the second
    year2 = index["time"] >= index["time"].iloc[0] + pd.Timedelta(days=360)
    step = np.where(year2, 25, 50)
    trails = index[index["frame"] % step == 0][["frame"]]
    trails = pd.concat([trails, trails.iloc[:5]])  # two trails in one frame count once
    df = trends.monthly_rate(index, trails)
    assert df["n_frames"].sum() == len(index)
    assert df["n_with_trails"].sum() == trails["frame"].nunique()
    np.testing.assert_allclose(df["percent"], 100 * df["n_with_trails"] / df["n_frames"])
    assert df["month"].is_monotonic_increasing and (df["month"].dt.day == 1).all()
    # six-month rolling mean of the percentages
    np.testing.assert_allclose(df["rolling_percent"].iloc[5], df["percent"].iloc[:6].mean())
    assert df.attrs["slope_percent_per_year"] > 0
    assert (df["trend_lo"] <= df["trend_percent"]).all()
    assert df.attrs["mean_percent"] == pytest.approx(100 * trails["frame"].nunique() / len(index))


def test_monthly_rate_gaps_and_single_month():
    index = archive_index(months=1)
    gap = index.assign(time=index["time"] + pd.Timedelta(days=90))
    both = pd.concat([index, gap.assign(frame=gap["frame"] + len(index))])
    df = trends.monthly_rate(both, pd.DataFrame({"frame": [0]}))
    assert (df["n_frames"] == 0).any() and df["percent"].isna().any()  # empty months shown
    with pytest.warns(SatlabWarning, match="month"):
        single = trends.monthly_rate(index.iloc[:50], pd.DataFrame({"frame": [1]}))
    assert len(single) == 1 and np.isnan(single["trend_percent"]).all()
    assert single["percent"].iloc[0] == pytest.approx(2.0)


def test_monthly_rate_from_frames_dataset():
    from satlab.frames import as_frames

    ds = as_frames(
        np.zeros((4, 5, 5), np.float32),
        time=pd.to_datetime(["2021-01-05", "2021-01-20", "2021-02-03", "2021-03-09"]),
    )
    df = trends.monthly_rate(ds, pd.DataFrame({"frame": [1, 3]}))
    assert list(df["percent"]) == [50.0, 0.0, 100.0]
    with pytest.raises(InputError, match="frame"):
        trends.monthly_rate(ds, pd.DataFrame({"x": [1]}))


def matches_table():
    return pd.DataFrame(
        {
            "trail": [0, 0, 1, 2, 3, 4],
            "norad_id": [11, 12, 11, 13, 14, np.nan],
            "best": [True, False, True, True, True, False],
            "match": ["strict", "relaxed", "strict", "relaxed", "strict", "none"],
            "range_km": [1000.0, 2000.0, 2000.0, 500.0, 4000.0, np.nan],
            "phase_angle_deg": [10.0, 20.0, 12.0, 33.0, 47.0, np.nan],
            "object_type": ["PAYLOAD", "DEBRIS", "PAYLOAD", "ROCKET BODY", None, None],
            "rcs_size": ["LARGE", "SMALL", "LARGE", "MEDIUM", "SMALL", None],
            "launch_date": ["2019-05-24", "1999-01-01", "2019-05-24", "2005-06-01", "", None],
        }
    )


def photometry_table():
    return pd.DataFrame(
        {
            "trail": [0, 1, 2, 3, 4],
            "frame": [0, 1, 5, 9, 9],
            "flux": [100.0, 300.0, 250.0, 1000.0, np.nan],
            "mag": [10.0, 9.0, 12.0, 11.0, np.nan],
            "mag_err": [0.1] * 5,
        }
    )


def test_brightness_table_joins_best_match_time_and_standard_magnitude():
    index = archive_index(months=1)
    bt = trends.brightness_table(photometry_table(), matches_table(), frames=index)
    assert list(bt["norad_id"].iloc[:4]) == [11, 11, 13, 14]
    assert np.isnan(bt["norad_id"].iloc[4])
    np.testing.assert_allclose(
        bt["mag_std"].iloc[:4],
        [10.0, 9.0 - 5 * np.log10(2), 12.0 + 5 * np.log10(2), 11 - 5 * np.log10(4)],
    )
    assert bt["time"].iloc[2] == index["time"].iloc[5]
    assert pd.isna(bt["launch_date"].iloc[3])  # empty string -> NaT


def test_population_unique_objects_and_unknowns():
    pop = trends.population(matches_table())
    counts = {(r.object_type, r.rcs_size): r.count for r in pop.itertuples()}
    assert counts == {
        ("PAYLOAD", "LARGE"): 1,
        ("ROCKET BODY", "MEDIUM"): 1,
        ("UNKNOWN", "SMALL"): 1,
    }
    every = trends.population(matches_table(), unique_objects=False)
    assert every["count"].sum() == 4  # best rows, object 11 twice
    with pytest.warns(SatlabWarning, match="no identified"):
        empty = trends.population(matches_table().iloc[:0])
    assert empty.empty and list(empty.columns) == ["object_type", "rcs_size", "count"]


def test_phase_angle_histogram():
    with pytest.warns(SatlabWarning, match="phase_angle_deg"):
        h = trends.phase_angle_histogram(matches_table(), bin_deg=10.0)
    assert len(h) == 18 and h["count"].sum() == 4  # best rows with a phase angle
    assert h.loc[h["phase_angle_deg_lo"] == 10.0, "count"].item() == 2


def test_brightness_histogram_peak_is_the_limiting_brightness():
    rng = np.random.default_rng(3)
    # more faint objects than bright (dN/dlog F ~ F^-0.8), detections fading below ~500 ADU
    flux = 100.0 * (1.0 - rng.random(20000)) ** (-1 / 0.8)
    keep = rng.random(flux.size) < 1 / (1 + (500 / flux) ** 4)
    with pytest.warns(SatlabWarning, match="finite"):
        h = trends.brightness_histogram(pd.DataFrame({"flux": np.append(flux[keep], np.nan)}))
    assert h.attrs["n"] == keep.sum() and h["count"].sum() == keep.sum()
    # rising counts times a falling efficiency peak at the efficiency's knee
    assert 400 < h.attrs["peak"] < 1500
    with pytest.warns(SatlabWarning, match="positive"):
        empty = trends.brightness_histogram(pd.DataFrame({"flux": [-1.0]}))
    assert empty.empty and np.isnan(empty.attrs["peak"])


def test_method_comparison_table():
    det = pd.DataFrame({"flux": np.geomspace(100, 1e4, 50)})
    table = trends.method_comparison(
        {
            "ML": {"detections": det, "time_per_image_s": 0.02, "false_positive_rate": 0.003,
                   "line_information": False},
            "classic": {"n_detections": 10, "brightness_limit": 900.0,
                        "time_per_image_s": 0.001, "line_information": True},
        }
    )  # fmt: skip
    assert list(table["method"]) == ["ML", "classic"]
    assert table.loc[0, "n_detections"] == 50
    assert table.loc[0, "false_positive_percent"] == pytest.approx(0.3)
    assert list(table["line_information"]) == ["no", "yes"]
    assert table.loc[1, "brightness_limit_adu"] == 900.0
    assert np.isnan(table.loc[1, "false_positive_percent"])
    with pytest.raises(InputError, match="methods"):
        trends.method_comparison({})


def population_table(n=400, slope=-0.04, seed=5):
    """Standard magnitudes with a known trend against launch date."""
    rng = np.random.default_rng(seed)
    launch = pd.to_datetime("1990-01-01") + pd.to_timedelta(rng.uniform(0, 35 * 365, n), "D")
    years = trends._decimal_year(launch)
    mag = 13.4 + slope * (years - 2007.5) + rng.normal(0, 1.0, n)
    time = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.uniform(0, 5 * 365, n), "D")
    return pd.DataFrame(
        {"norad_id": np.arange(n), "launch_date": launch, "mag_std": mag, "time": time}
    )


def test_magnitude_vs_launch_recovers_the_injected_slope():
    table = population_table()
    df = trends.magnitude_vs_launch(table)
    assert df.attrs["n_objects"] == 400
    assert df.attrs["slope_mag_per_year"] == pytest.approx(-0.04, abs=2 * df.attrs["slope_err"])
    assert df.attrs["slope_err"] < 0.01
    assert df["launch_date"].is_monotonic_increasing


def test_magnitude_vs_launch_one_row_per_object_and_missing_dates():
    table = population_table(n=20)
    table = pd.concat([table, table.iloc[:3].assign(mag_std=table["mag_std"].iloc[:3] + 1.0)])
    table.loc[5, "launch_date"] = pd.NaT
    with pytest.warns(SatlabWarning, match="launch_date"):
        df = trends.magnitude_vs_launch(table)
    assert len(df) == 19 and df["n_detections"].max() == 2
    with pytest.warns(SatlabWarning):
        few = trends.magnitude_vs_launch(table.iloc[:2])
    assert np.isnan(few.attrs["slope_mag_per_year"])


def test_magnitude_per_year_and_over_time():
    table = population_table(n=300)
    per_year = trends.magnitude_per_year(table)
    assert set(per_year["year"]) == set(table["time"].dt.year)
    assert per_year["count"].sum() == 300
    assert per_year.attrs["mean"] == pytest.approx(table["mag_std"].mean())
    y2021 = table[table["time"].dt.year == 2021]["mag_std"]
    assert per_year.attrs["summary"][2021]["n"] == len(y2021)
    over = trends.magnitude_over_time(table)
    assert over["time"].is_monotonic_increasing and len(over) == 300
    # no trend against observation time was injected
    assert abs(over.attrs["slope_mag_per_year"]) < 3 * over.attrs["slope_err"]
    with pytest.warns(SatlabWarning):
        empty = trends.magnitude_per_year(table.assign(mag_std=np.nan))
    assert empty.empty


@pytest.mark.slow
def test_trend_plots_build_and_render():
    import holoviews as hv

    index = archive_index(months=12)
    trails = index[index["frame"] % 40 == 0][["frame"]]
    table = population_table(n=120)
    with pytest.warns(SatlabWarning):
        phase = trends.phase_angle_histogram(matches_table())
    plots = [
        plot.monthly_rate_plot(trends.monthly_rate(index, trails)),
        plot.population_plot(trends.population(matches_table())),
        plot.phase_angle_plot(phase),
        plot.brightness_plot(
            trends.brightness_histogram(pd.DataFrame({"flux": np.geomspace(10, 1e4, 99)}))
        ),
        plot.magnitude_per_year_plot(trends.magnitude_per_year(table)),
        plot.magnitude_over_time_plot(trends.magnitude_over_time(table)),
        plot.magnitude_vs_launch_plot(trends.magnitude_vs_launch(table)),
    ]
    for p in plots:
        fig = hv.render(p, backend="bokeh")
        assert fig.renderers  # something is drawn
    assert "mag/yr" in str(plots[-1].get(2).label)
    with pytest.raises(InputError, match="columns"):
        plot.magnitude_vs_launch_plot(pd.DataFrame({"x": [1]}))


def test_empty_detection_set_gives_empty_tables_and_warnings():
    empty = pd.DataFrame(
        {"mag_std": pd.Series(dtype=float), "launch_date": pd.Series(dtype="datetime64[ns]"),
         "time": pd.Series(dtype="datetime64[ns]"), "norad_id": pd.Series(dtype=float)}
    )  # fmt: skip
    with pytest.warns(SatlabWarning):
        launch = trends.magnitude_vs_launch(empty)
    assert launch.empty and np.isnan(launch.attrs["slope_mag_per_year"])
    with pytest.warns(SatlabWarning):
        over = trends.magnitude_over_time(empty)
    assert over.empty and np.isnan(over.attrs["mean"])
    rate = trends.monthly_rate(archive_index(months=4), pd.DataFrame({"frame": []}))
    assert (rate["percent"] == 0).all() and rate.attrs["mean_percent"] == 0
    assert rate.attrs["slope_percent_per_year"] == 0

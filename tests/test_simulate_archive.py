"""Synthetic population (3LE + SATCAT) and the SGP4-consistent sample archive."""

import warnings

import numpy as np
import pandas as pd
import pytest

import satlab
from satlab.errors import InputError, OutputExistsError, SatlabWarning
from satlab.orbits import Observer, predict, read_satcat, read_tle
from satlab.simulate.population import (
    MAG_LAW,
    _at_epoch,
    cheops_observer_tle,
    make_population,
)


@pytest.fixture(scope="module")
def population():
    return make_population(400, seed=3)


def test_standard_magnitude_law(population):
    cat = population.satcat
    assert cat["MAG_STD"].mean() == pytest.approx(13.4, abs=0.01)
    assert cat["MAG_STD"].std() == pytest.approx(1.7, abs=0.15)
    year = pd.to_datetime(cat["LAUNCH_DATE"]).dt.year
    # newer objects are brighter: the fitted trend recovers the law within its noise
    slope = np.polyfit(year, cat["MAG_STD"] - cat["RCS_SIZE"].map(MAG_LAW["size_term"]), 1)[0]
    assert slope == pytest.approx(MAG_LAW["trend_per_year"], abs=0.04)
    large, small = (cat.loc[cat["RCS_SIZE"] == s, "MAG_STD"].mean() for s in ("LARGE", "SMALL"))
    assert small - large > 1.0


def test_three_line_history_and_satcat_read_back(population):
    epochs = np.array(["2021-05-01T00:00", "2024-02-01T00:00"], dtype="datetime64[ns]")
    cat = read_tle(population.three_line(epochs))
    alive = [population.alive(t).sum() for t in epochs]
    assert len(cat) == sum(alive)
    satcat = read_satcat(population.satcat_csv())
    assert set(satcat["object_type"]) <= {"PAYLOAD", "ROCKET BODY", "DEBRIS", "UNKNOWN"}
    assert set(satcat["rcs_size"]) == {"SMALL", "MEDIUM", "LARGE"}
    assert satcat["decay_date"].notna().any() and satcat["launch_date"].notna().all()
    by_class = population.satcat.groupby("CLASS")
    assert by_class["INCLINATION"].median()["constellation"] == pytest.approx(53.0)
    assert by_class["INCLINATION"].median()["sso"] > 97.0
    assert by_class["PERIOD"].median()["geo"] == pytest.approx(1436.0, rel=0.01)
    assert by_class["PERIOD"].median()["meo"] == pytest.approx(718.0, rel=0.01)


def test_re_epoched_element_sets_describe_the_same_orbit(population):
    sat = population.satrecs[0]
    later = _at_epoch(sat, np.datetime64("2023-07-01T00:00", "ns"))
    jd, fr = later.jdsatepoch, later.jdsatepochF + 0.3
    _, r1, _ = sat.sgp4(jd, fr)
    _, r2, _ = later.sgp4(jd, fr)
    assert np.linalg.norm(np.subtract(r1, r2)) < 0.01  # km


def test_cheops_observer_is_dawn_dusk_sun_synchronous():
    from sgp4.api import Satrec

    l1, l2 = cheops_observer_tle()
    sat = Satrec.twoline2rv(l1, l2)
    assert np.degrees(sat.nodedot) * 1440 == pytest.approx(360 / 365.2422, rel=0.01)
    alt = (sat.a - 1) * sat.radiusearthkm
    assert alt == pytest.approx(700, abs=15)
    obs = Observer.from_tle(l1, l2)
    r, _ = obs.posvel_gcrs(np.array(["2022-06-21T00:00"], dtype="datetime64[ns]"))
    assert np.linalg.norm(r) == pytest.approx(6378 + 700, abs=30)


def test_bad_population():
    with pytest.raises(InputError, match="n:"):
        make_population(3, seed=1)


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    from satlab.simulate.archive import make_archive

    out = tmp_path_factory.mktemp("archive")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)  # element sets 30+ days old in predict
        result = make_archive(
            out,
            seed=5,
            start="2021-02",
            end="2021-04",
            frames_per_visit=2,
            n_objects=120,
            crossing_fraction=1.0,
        )
    return out, result


@pytest.mark.slow
def test_archive_loads_and_its_trails_match_the_truth(small_archive):
    out, result = small_archive
    ds = satlab.open_frames(str(result["frames"]))
    assert ds.sizes["frame"] == result["n_frames"] == 6
    assert ds.attrs["instrument"] == "CHEOPS"
    obs = Observer.from_attr(ds.attrs["observer"])
    assert obs.kind == "spacecraft"
    truth = pd.read_csv(result["truth"])
    assert len(truth) == result["n_trails"] >= 2
    assert (truth["file"].to_numpy() == ds["file"].values[truth["frame"]]).all()
    y, x = np.mgrid[0:200, 0:200]
    for row in truth.itertuples():
        flux = ds["flux"].values[row.frame]
        # pixels within 10 px of the true line against the rest of the frame
        d = np.abs(x * np.cos(np.radians(row.theta)) + y * np.sin(np.radians(row.theta)) - row.rho)
        good = np.isfinite(flux)
        band = good & (d < 10)
        excess = np.nanmedian(flux[band]) - np.nanmedian(flux[good & (d > 40)])
        if row.snr_avg > 1:
            assert excess > 0.3 * row.snr_avg * np.nanstd(flux[good & (d > 40)]) / 3
    # the truth's objects are where SGP4 puts them: predicted track through the field
    cat = read_tle((out / "population.3le").read_text())
    row = truth.iloc[0]
    t = np.array([np.datetime64(row.time)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        pr = predict(cat.select([int(row.norad_id)]), t, obs)
    sep = (
        np.hypot(
            (pr["ra"].values[0, 0] - ds["ra"].values[row.frame])
            * np.cos(np.radians(pr["dec"].values[0, 0])),
            pr["dec"].values[0, 0] - ds["dec"].values[row.frame],
        )
        * 3600
    )
    assert sep < 3 * 3600  # within degrees of the pointing at mid-exposure (fast movers)
    assert (out / "archive.json").exists() and (out / "satcat.csv").exists()
    per_frame = pd.read_csv(result["frame_table"])
    assert len(per_frame) == 6 and per_frame["n_trails"].sum() == len(truth)
    assert (per_frame["file"].to_numpy() == ds["file"].values).all()


@pytest.mark.slow
def test_archive_refuses_to_overwrite(small_archive):
    from satlab.simulate.archive import make_archive

    out, _ = small_archive
    with pytest.raises(OutputExistsError, match="not empty"):
        make_archive(out, seed=5, start="2021-02", end="2021-02")
    with pytest.raises(InputError, match="frames_per_visit"):
        make_archive(out / "new", seed=5, frames_per_visit=0)


@pytest.mark.slow
def test_archive_files_are_byte_identical_for_a_seed(tmp_path):
    from satlab.simulate.archive import make_archive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        for name in ("a", "b"):
            make_archive(
                tmp_path / name,
                seed=8,
                start="2022-07",
                end="2022-07",
                frames_per_visit=1,
                n_objects=24,
            )
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert any(f.endswith(".fits.gz") for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f

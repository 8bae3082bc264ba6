"""satlab.orbits.crossmatch: the seed 001 identification on synthetic frames and trails."""

import io
import warnings

import numpy as np
import pandas as pd
import pytest
import sgp4
import xarray as xr

from satlab.errors import FrameError, InputError, SatlabWarning
from satlab.frames import as_frames
from satlab.io.wcs import frame_wcs
from satlab.orbits import (
    Observer,
    crossmatch,
    predict,
    prefilter,
    read_satcat,
    read_tle,
    select_epochs,
)
from satlab.orbits._astro import teme_to_gcrs_matrices
from satlab.orbits.synthetic import synthetic_catalogue

SC1 = "1 44874U 19092B   06152.00000000  .00000000  00000-0  00000+0 0    04"
SC2 = "2 44874  98.2200 200.0000 0012000  90.0000  10.0000 14.57000000    02"
T_MID = pd.Timestamp("2006-06-01 06:00:00")
CHEOPS = Observer.from_tle(SC1, SC2, name="CHEOPS-like")
GROUND = Observer.ground(-24.6, -70.4, 2635.0, name="Paranal")
SHAPE = (200, 200)
SCALE = 1.0  # arcsec/px, CHEOPS-like


@pytest.fixture(scope="module")
def population():
    return synthetic_catalogue(1500, T_MID, seed=7)


@pytest.fixture(scope="module")
def deep_population():
    """Templates drawn uniformly: 80 % deep space (GEO, Molniya, lunar-distance HEO)."""
    return synthetic_catalogue(1500, T_MID, seed=8, deep_fraction=None)


def quiet_predict(cat, times, observer, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)  # decayed draws are NaN, skipped
        return predict(cat, times, observer, **kwargs)


def make_frames(pointings, times, observer, *, roll=33.0, exptime=60.0, parity=-1):
    ra, dec = np.asarray(pointings, float).T
    n = len(ra)
    frames = as_frames(
        np.zeros((n, *SHAPE), np.float32),
        time=pd.DatetimeIndex(times),
        exptime=exptime,
        attrs={"pixel_scale": SCALE, "parity": parity, "observer": observer.to_attr()},
    )
    return frames.assign_coords(
        ra=("frame", ra), dec=("frame", dec), roll=("frame", np.resize(roll, n))
    )


def trail_through_frame(cat, norad_id, frames, i, observer, *, half_len_px=60.0):
    """Endpoints of the object's track in frame ``i``, centred on mid-exposure."""
    t = pd.Timestamp(frames["time"].values[i])
    one = cat.select(norad_id)
    rate = float(quiet_predict(one, [t], observer)["rate_arcsec_s"].values[0, 0])
    dt = half_len_px * SCALE / rate
    # astrometric positions, as a star-fitted WCS sees them (crossmatch's default)
    track = quiet_predict(one, t + pd.to_timedelta([-dt, dt], unit="s"), observer, light_time=True)
    x, y = frame_wcs(frames, i).world_to_pixel_values(track["ra"].values[0], track["dec"].values[0])
    return {"frame": i, "x0": x[0], "y0": y[0], "x1": x[1], "y1": y[1], "width_px": 2.5}


def visible_targets(cat, observer, n, seed, *, max_range_km=None):
    """Objects with a valid position at T_MID, for placing frames on them."""
    ds = quiet_predict(cat, [T_MID], observer)
    ok = ds["sgp4_error"].values[:, 0] == 0
    if max_range_km:
        ok &= ds["range_km"].values[:, 0] < max_range_km
    idx = np.random.default_rng(seed).choice(np.flatnonzero(ok), n, replace=False)
    return ds.isel(object=idx, time=0)


@pytest.mark.slow
@pytest.mark.parametrize("mix", ["population", "deep_population"])
@pytest.mark.parametrize("observer", [CHEOPS, GROUND], ids=["spacecraft", "ground"])
def test_prefilter_never_drops_an_object_in_the_field(request, mix, observer):
    population = request.getfixturevalue(mix)
    rng = np.random.default_rng(3)
    exptime = 60.0
    offsets = rng.uniform(-exptime / 2, exptime / 2, 120)
    ids = rng.choice(population.table["norad_id"].to_numpy(), 120, replace=False)
    times = T_MID + pd.to_timedelta(offsets, unit="s")
    rows = select_epochs(population, [T_MID])["row"].to_numpy()[:, 0]
    t_k = T_MID + pd.to_timedelta(np.linspace(-30, 30, 13), unit="s")
    rot = teme_to_gcrs_matrices(t_k.to_numpy())
    obs_r, _ = observer.posvel_gcrs(t_k, rotations=rot)
    obs_teme = np.einsum("kji,kj->ki", rot, obs_r)
    kept_fraction, tested = [], 0
    sub = population.select(ids)
    grid = quiet_predict(sub, times, observer)  # (object, time): take each object's time
    pick = [int(np.flatnonzero(grid["norad_id"].values == n)[0]) for n in ids]
    pos = grid.isel(object=xr.DataArray(pick), time=xr.DataArray(np.arange(len(ids))))
    for norad, ra0, dec0, err in zip(
        ids, pos["ra"].values, pos["dec"].values, pos["sgp4_error"].values, strict=True
    ):
        if err:
            continue
        # the field centre 200" from where the object is at a random time of the exposure
        pa = rng.uniform(0, 2 * np.pi)
        ra = ra0 + 200 / 3600 * np.sin(pa) / np.cos(np.radians(dec0))
        dec = dec0 + 200 / 3600 * np.cos(pa)
        axis = np.array(
            [
                np.cos(np.radians(dec)) * np.cos(np.radians(ra)),
                np.cos(np.radians(dec)) * np.sin(np.radians(ra)),
                np.sin(np.radians(dec)),
            ]
        )
        cone = np.radians((141 + 350) / 3600)
        kept = prefilter(
            population, rows, T_MID.to_datetime64(), obs_teme, rot[6].T @ axis, cone, exptime
        )
        norad_rows = np.flatnonzero(population.table["norad_id"].to_numpy() == norad)
        assert np.isin(norad_rows, kept).all(), f"prefilter dropped NORAD {norad}"
        kept_fraction.append(len(kept) / len(rows))
        tested += 1
    assert tested > 100
    assert np.mean(kept_fraction) < 0.05  # and it is a real cut, not a pass-through


@pytest.mark.parametrize(
    ("observer", "parity"), [(CHEOPS, -1), (GROUND, 1)], ids=["spacecraft", "ground-flipped"]
)
def test_identifies_trails_placed_on_predicted_tracks(population, observer, parity):
    targets = visible_targets(population, observer, 6, seed=11, max_range_km=20000)
    pointings = np.stack([targets["ra"].values + 0.01, targets["dec"].values - 0.01], -1)
    frames = make_frames(
        pointings, [T_MID] * 6, observer, roll=[0.0, 33.0, 90.0, 181.0, 270.0, 359.0], parity=parity
    )
    trails = pd.DataFrame(
        [
            trail_through_frame(population, nid, frames, i, observer)
            for i, nid in enumerate(targets["norad_id"].values)
        ]
    )
    res = crossmatch(trails, frames, population)
    best = res[res["best"]].set_index("trail")
    assert best["norad_id"].tolist() == targets["norad_id"].values.tolist()
    assert (best["match"] == "strict").all()
    assert best["sep_arcsec"].max() < 1.0
    assert best["angle_diff_deg"].abs().max() < 0.1
    np.testing.assert_allclose(best["range_km"], targets["range_km"].values, rtol=1e-3)
    assert res.attrs["params"]["radius_arcsec"] == 250.0
    assert res.attrs["units"]["sep_arcsec"] == "arcsec"
    assert res.attrs["versions"]["sgp4"] == sgp4.__version__
    assert list(res.columns[:4]) == ["trail", "frame", "norad_id", "name"]


def one_target_setup(population, *, seed=5):
    target = visible_targets(population, CHEOPS, 1, seed=seed, max_range_km=8000).isel(object=0)
    frames = make_frames([[float(target["ra"]), float(target["dec"])]], [T_MID], CHEOPS)
    trail = trail_through_frame(population, int(target["norad_id"]), frames, 0, CHEOPS)
    return int(target["norad_id"]), frames, trail


def rotate(trail, deg):
    cx, cy = (trail["x0"] + trail["x1"]) / 2, (trail["y0"] + trail["y1"]) / 2
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    out = dict(trail)
    for a, b in (("x0", "y0"), ("x1", "y1")):
        dx, dy = trail[a] - cx, trail[b] - cy
        out[a], out[b] = cx + c * dx - s * dy, cy + s * dx + c * dy
    return out


def shift(trail, px):
    d = np.array([trail["x1"] - trail["x0"], trail["y1"] - trail["y0"]])
    nx, ny = np.array([-d[1], d[0]]) / np.hypot(*d) * px
    return dict(
        trail, x0=trail["x0"] + nx, x1=trail["x1"] + nx, y0=trail["y0"] + ny, y1=trail["y1"] + ny
    )


def test_direction_and_radius_constraints(population):
    norad, frames, trail = one_target_setup(population)
    trails = pd.DataFrame(
        [trail, rotate(trail, 4.0), rotate(trail, 10.0), shift(trail, 150), shift(trail, 300)]
    )
    res = crossmatch(trails, frames, population)
    got = res[res["norad_id"] == norad].set_index("trail")
    assert got.loc[1, "match"] == "strict" and abs(got.loc[1, "angle_diff_deg"]) == pytest.approx(
        4.0, abs=0.05
    )
    assert got.loc[2, "match"] == "rejected" and abs(got.loc[2, "angle_diff_deg"]) == pytest.approx(
        10.0, abs=0.05
    )
    assert got.loc[3, "match"] == "strict" and got.loc[3, "sep_arcsec"] == pytest.approx(
        150.0, abs=1.0
    )
    assert got.loc[4, "match"] == "rejected" and got.loc[4, "sep_arcsec"] == pytest.approx(
        300.0, abs=1.0
    )
    assert not got.loc[[2, 4], "best"].any()
    # the CSR grows with the offset and with the angle
    assert got.loc[0, "csr"] < got.loc[1, "csr"] < got.loc[2, "csr"]
    # in units of the width (2.5") and 1 km of element-set error at the object's range
    sigma = np.hypot(2.5, 1.0 / got.loc[3, "range_km"] * 206264.8)
    assert got.loc[3, "csr"] == pytest.approx((150.0 / sigma) ** 2, rel=0.02)
    no_tle = crossmatch(trails.iloc[[3]], frames, population, tle_sigma_km=1e-9)
    assert no_tle.loc[no_tle["norad_id"] == norad, "csr"].iloc[0] == pytest.approx(3600, rel=0.02)


def test_relaxed_match_for_unreliable_geometry(population):
    norad, frames, trail = one_target_setup(population)
    short = dict(
        trail,
        x1=trail["x0"] + 0.3 * (trail["x1"] - trail["x0"]) / 40,
        y1=trail["y0"] + 0.3 * (trail["y1"] - trail["y0"]) / 40,
    )
    nan = dict(trail, x0=np.nan, y0=np.nan, x1=np.nan, y1=np.nan)
    res = crossmatch(pd.DataFrame([short, nan]), frames, population)
    best = res[res["best"]].set_index("trail")
    assert best["norad_id"].tolist() == [norad, norad]
    assert (best["match"] == "relaxed").all()
    assert best["angle_diff_deg"].isna().all() and best["csr"].isna().all()
    assert (res.groupby("trail")["match"].apply(lambda m: (m == "relaxed").sum()) == 1).all()


def test_iqr_rejects_outlying_associations(population):
    targets = visible_targets(population, CHEOPS, 8, seed=21, max_range_km=20000)
    pointings = np.stack([targets["ra"].values, targets["dec"].values], -1)
    frames = make_frames(pointings, [T_MID] * 8, CHEOPS)
    rows = [
        trail_through_frame(population, nid, frames, i, CHEOPS)
        for i, nid in enumerate(targets["norad_id"].values)
    ]
    rng = np.random.default_rng(0)
    rows = [shift(r, rng.uniform(5, 10)) for r in rows[:-1]] + [shift(rows[-1], 120)]
    res = crossmatch(pd.DataFrame(rows), frames, population)
    mine = res[res["norad_id"] == res["trail"].map(dict(enumerate(targets["norad_id"].values)))]
    assert mine.set_index("trail")["match"].tolist() == ["strict"] * 7 + ["rejected"]
    assert res.attrs["params"]["csr_fence"] < mine["csr"].iloc[-1]


def test_no_candidate_gives_a_none_row_and_warns(population):
    frames = make_frames([[10.0, 89.0]], [T_MID], CHEOPS)
    trail = {"frame": 0, "x0": 10.0, "y0": 10.0, "x1": 150.0, "y1": 120.0, "width_px": 2.0}
    with pytest.warns(SatlabWarning, match="none of the 1 trail"):
        res = crossmatch(pd.DataFrame([trail]), frames, population.take(np.arange(20)))
    assert res["match"].tolist() == ["none"] and res["norad_id"].isna().all()
    assert not res["best"].any()


def test_observer_keyword_and_satcat_columns(population, tmp_path):
    norad, frames, trail = one_target_setup(population, seed=9)
    satcat = tmp_path / "satcat.csv"
    satcat.write_text(f"NORAD_CAT_ID,OBJECT_TYPE,RCS,LAUNCH_DATE\n{norad},DEB,0.05,2001-02-03\n")
    cat = population.satcat(satcat)
    no_attr = frames.copy()
    no_attr.attrs = {k: v for k, v in frames.attrs.items() if k != "observer"}
    a = crossmatch(pd.DataFrame([trail]), no_attr, cat, observer=CHEOPS)
    b = crossmatch(pd.DataFrame([trail]), frames, cat)
    pd.testing.assert_frame_equal(a, b)
    best = a[a["best"]].iloc[0]
    assert (best["object_type"], best["rcs_size"]) == ("DEBRIS", "SMALL")
    assert best["launch_date"] == pd.Timestamp("2001-02-03")
    with pytest.raises(InputError, match=r"attrs\['observer'\] is missing"):
        crossmatch(pd.DataFrame([trail]), no_attr, cat)


def test_history_catalogue_and_window(population):
    norad, frames, trail = one_target_setup(population)
    old = read_tle(
        population.select(norad)
        .to_tle()
        .replace(" 06152.", " 06140.")
        .replace(" 06151.", " 06139."),
        checksum=False,
    )
    assert (old.table["epoch"] < T_MID - pd.Timedelta("10D")).all()
    with pytest.warns(SatlabWarning) as caught:
        res = crossmatch(pd.DataFrame([trail]), frames, old)
    messages = " ".join(str(w.message) for w in caught)
    assert "no element set within +-48 h" in messages and "none of the 1 trail" in messages
    assert res["match"].tolist() == ["none"]
    assert res.attrs["objects_without_elements"] == 1
    # an object the SATCAT says had decayed by then is not missing anything
    decayed = old.satcat(
        pd.DataFrame({"NORAD_CAT_ID": [norad], "DECAY_DATE": ["2006-05-25"]}).pipe(
            lambda d: read_satcat(io.StringIO(d.to_csv(index=False)))
        )
    )
    with pytest.warns(SatlabWarning, match="none of the 1 trail") as caught:
        res = crossmatch(pd.DataFrame([trail]), frames, decayed)
    assert len(caught) == 1 and res.attrs["objects_without_elements"] == 0


def test_bad_inputs(population):
    _, frames, trail = one_target_setup(population)
    t = pd.DataFrame([trail])
    with pytest.raises(InputError, match=r"missing column\(s\) \['y1'\]"):
        crossmatch(t.drop(columns="y1"), frames, population)
    with pytest.raises(InputError, match="column 'frame' must index the 1 frame"):
        crossmatch(t.assign(frame=3), frames, population)
    with pytest.raises(FrameError, match=r"missing \['roll', 'pixel_scale'\]"):
        bare = frames.drop_vars("roll")
        bare.attrs = {k: v for k, v in bare.attrs.items() if k != "pixel_scale"}
        crossmatch(t, bare, population)
    with pytest.raises(FrameError, match=r"'exptime' \[s\] must be known"):
        crossmatch(t, frames.assign_coords(exptime=("frame", [np.nan])), population)
    with pytest.raises(InputError, match=r"frames\.time: 1 time"):
        crossmatch(
            t, frames.assign_coords(time=("frame", [np.datetime64("NaT", "ns")])), population
        )
    lost = frames.assign_coords(ra=("frame", [np.nan]))
    with pytest.raises(FrameError, match=r"ra/dec/roll are NaN for frame\(s\) \[0\]"):
        crossmatch(t, lost, population)
    with pytest.raises(InputError, match="angle_tol_deg: expected a positive"):
        crossmatch(t, frames, population, angle_tol_deg=-1)
    with pytest.raises(InputError, match=r"catalogue: expected a satlab\.orbits\.Catalogue"):
        crossmatch(t, frames, population.table)
    with pytest.warns(SatlabWarning, match="no trails given"):
        empty = crossmatch(t.iloc[:0], frames, population)
    assert empty.empty and "sep_arcsec" in empty and empty["best"].dtype == bool


def test_synthetic_catalogue_is_reproducible_and_valid():
    a = synthetic_catalogue(20, T_MID, seed=1)
    b = synthetic_catalogue(20, T_MID, seed=1)
    assert a.table["line2"].tolist() == b.table["line2"].tolist()
    assert (
        a.table["line2"].tolist() != synthetic_catalogue(20, T_MID, seed=2).table["line2"].tolist()
    )
    assert a.table["norad_id"].tolist() == list(range(100001, 100021))
    assert (a.table["epoch"] <= T_MID).all() and (
        a.table["epoch"] > T_MID - pd.Timedelta("24h")
    ).all()
    assert a.table.attrs["params"]["seed"] == 1
    assert a.table.attrs["versions"]["sgp4"] == sgp4.__version__
    assert len(read_tle(a.to_tle())) == 20  # valid lines and checksums


def test_slow_curved_track_is_compared_chord_to_chord(population):
    """From a moving spacecraft a slow object's track curves over a minute; a trail drawn
    as the straight chord between its ends still matches strictly."""
    ds = quiet_predict(population, [T_MID], CHEOPS, light_time=True)
    rate = ds["rate_arcsec_s"].values[:, 0]
    slow = np.flatnonzero((rate > 1.0) & (rate < 3.0) & (ds["sgp4_error"].values[:, 0] == 0))
    target = ds.isel(object=slow[0], time=0)
    norad = int(target["norad_id"])
    frames = make_frames([[float(target["ra"]), float(target["dec"])]], [T_MID], CHEOPS)
    ends = quiet_predict(
        population.select(norad),
        T_MID + pd.to_timedelta([-29.0, 29.0], unit="s"),
        CHEOPS,
        light_time=True,
    )
    mid = quiet_predict(population.select(norad), [T_MID], CHEOPS, light_time=True)
    w = frame_wcs(frames, 0)
    x, y = w.world_to_pixel_values(ends["ra"].values[0], ends["dec"].values[0])
    xm, ym = w.world_to_pixel_values(mid["ra"].values[0], mid["dec"].values[0])
    # the chord misses the true mid-exposure position by the sagitta of the curved track
    sagitta = abs((x[1] - x[0]) * (y[0] - ym[0]) - (x[0] - xm[0]) * (y[1] - y[0])) / np.hypot(
        x[1] - x[0], y[1] - y[0]
    )
    trail = {"frame": 0, "x0": x[0], "y0": y[0], "x1": x[1], "y1": y[1], "width_px": 3.0}
    res = crossmatch(pd.DataFrame([trail]), frames, population)
    best = res[res["best"]].iloc[0]
    assert best["norad_id"] == norad and best["match"] == "strict"
    assert abs(best["angle_diff_deg"]) < 0.5
    assert best["sep_arcsec"] == pytest.approx(sagitta * SCALE, abs=1.0)


def test_per_frame_observers_from_an_archive_coord(population):
    """Files with different observers open as a per-frame ``observer`` coord."""
    a = visible_targets(population, CHEOPS, 1, seed=31, max_range_km=20000).isel(object=0)
    b = visible_targets(population, GROUND, 1, seed=32, max_range_km=20000).isel(object=0)
    frames = make_frames(
        [[float(a["ra"]), float(a["dec"])], [float(b["ra"]), float(b["dec"])]], [T_MID] * 2, CHEOPS
    )
    frames = frames.assign_coords(observer=("frame", [CHEOPS.to_attr(), GROUND.to_attr()]))
    frames.attrs = {k: v for k, v in frames.attrs.items() if k != "observer"}
    trails = pd.DataFrame(
        [
            trail_through_frame(population, int(a["norad_id"]), frames, 0, CHEOPS),
            trail_through_frame(population, int(b["norad_id"]), frames, 1, GROUND),
        ]
    )
    best = crossmatch(trails, frames, population).query("best").set_index("trail")
    assert best["norad_id"].tolist() == [int(a["norad_id"]), int(b["norad_id"])]
    assert (best["match"] == "strict").all()

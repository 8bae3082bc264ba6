"""satlab.orbits predictions: observers, epoch choice, geometry, and agreement with skyfield."""

import datetime as dt
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sgp4
import xarray as xr

from satlab.errors import CatalogueError, InputError, SatlabWarning
from satlab.orbits import NO_ELEMENTS, NON_PHYSICAL, Observer, predict, read_tle, select_epochs
from satlab.orbits._astro import teme_to_gcrs_matrices
from satlab.orbits.predict import apparent

VER_TLE = os.path.join(os.path.dirname(sgp4.__file__), "SGP4-VER.TLE")
ISS1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
# a CHEOPS-like sun-synchronous orbit (700 km, no drag so it propagates for decades)
SC1 = "1 44874U 19092B   06152.00000000  .00000000  00000-0  00000+0 0    04"
SC2 = "2 44874  98.2200 200.0000 0012000  90.0000  10.0000 14.57000000    02"
GENEVA = (46.2, 6.15, 400.0)


@pytest.fixture(scope="module")
def ver():
    with pytest.warns(SatlabWarning, match="skipped 3"):
        return read_tle(VER_TLE, errors="skip")


def sep_arcsec(ra1, dec1, ra2, dec2):
    ra1, dec1, ra2, dec2 = map(np.radians, (ra1, dec1, ra2, dec2))
    c = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(ra1 - ra2)
    s = np.hypot(
        np.cos(dec2) * np.sin(ra1 - ra2),
        np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(ra1 - ra2),
    )
    return np.degrees(np.arctan2(s, c)) * 3600


def skyfield_timescale():
    """skyfield with the same Earth-orientation table (incl. polar motion) astropy uses."""
    import astropy_iers_data
    from skyfield.api import load
    from skyfield.data import iers

    ts = load.timescale(builtin=True)
    finals = Path(astropy_iers_data.__file__).parent / "data" / "finals2000A.all"
    with finals.open("rb") as f:
        iers.install_polar_motion_table(ts, iers.parse_x_y_dut1_from_finals_all(f))
    return ts


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ground", "spacecraft"])
def test_agrees_with_skyfield_over_sgp4_verification_set(ver, kind):
    from skyfield.api import EarthSatellite, wgs84

    ts = skyfield_timescale()
    if kind == "ground":
        observer = Observer.ground(*GENEVA)
        sf_obs = wgs84.latlon(*GENEVA[:2], elevation_m=GENEVA[2])
    else:
        observer = Observer.from_tle(SC1, SC2, name="CHEOPS-like")
        sf_obs = EarthSatellite(SC1, SC2, ts=ts)
    worst_sep, worst_range, n = 0.0, 0.0, 0
    for i in range(len(ver)):
        row = ver.table.iloc[i]
        times = row["epoch"] + pd.to_timedelta([-6.0, -0.5, 0.0, 1.0, 3.0, 9.0], unit="h")
        with warnings.catch_warnings():
            # a few sets decay within the 9 h span; those times are NaN, flagged, skipped
            warnings.simplefilter("ignore", SatlabWarning)
            ds = predict(ver.take([i]), times, observer)
        ok = ds["sgp4_error"].values[0] == 0
        sat = EarthSatellite(row["line1"], row["line2"], ts=ts)
        t = ts.from_datetimes([x.to_pydatetime().replace(tzinfo=dt.UTC) for x in times[ok]])
        ra, dec, dist = (sat - sf_obs).at(t).radec()
        sep = sep_arcsec(ds["ra"].values[0, ok], ds["dec"].values[0, ok], ra._degrees, dec.degrees)
        worst_sep = max(worst_sep, sep.max())
        worst_range = max(worst_range, np.abs(ds["range_km"].values[0, ok] - dist.km).max())
        n += int(ok.sum())
    # shown by `pytest -rP -k skyfield`: the numbers the closing note reports
    print(
        f"{kind}: {n} positions, worst separation {worst_sep:.4f} arcsec, worst range "
        f"difference {worst_range * 1e3:.3f} m"
    )
    assert n > 160  # 30 element sets x 6 times, a few beyond decay
    assert worst_sep < 2.0  # arcsec, the issue's target (measured: ~0.003")
    assert worst_range * 1000 < 50.0  # metres (measured: ~0.07 m)


def test_rotation_matrices_match_astropy_transform():
    from astropy import units as u
    from astropy.coordinates import GCRS, TEME, CartesianRepresentation
    from astropy.time import Time

    t64 = np.array(["2021-06-01T03:00:00", "2024-02-29T23:59:59.5"], dtype="datetime64[ns]")
    vec = np.array([[6778.0, -1234.5, 321.0], [-42164.0, 10.0, 5000.0]])
    rot = teme_to_gcrs_matrices(t64)
    t = Time(t64, scale="utc")
    direct = TEME(CartesianRepresentation(vec.T * u.km), obstime=t).transform_to(GCRS(obstime=t))
    mine = np.einsum("tij,tj->ti", rot, vec)
    np.testing.assert_allclose(mine, direct.cartesian.xyz.to_value(u.km).T, atol=1e-6)  # 1 mm
    np.testing.assert_allclose(
        np.einsum("tij,tkj->tik", rot, rot), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12
    )


def test_time_inputs_are_equivalent():
    from astropy.time import Time

    cat = read_tle(f"{ISS1}\n{ISS2}\n")
    obs = Observer.ground(*GENEVA)
    stamps = pd.to_datetime(["2008-09-20 13:00:00", "2008-09-20 13:00:30"])
    variants = [
        Time(["2008-09-20T13:00:00", "2008-09-20T13:00:30"], scale="utc"),
        stamps.to_numpy(),
        stamps,
        list(stamps.to_pydatetime()),
        xr.DataArray(stamps.to_numpy(), dims="frame"),  # frames["time"]
        stamps.tz_localize("UTC").tz_convert("Europe/Zurich"),
    ]
    ref = predict(cat, variants[0], obs)
    for v in variants[1:]:
        np.testing.assert_array_equal(predict(cat, v, obs)["ra"].values, ref["ra"].values)
    single = predict(cat, pd.Timestamp("2008-09-20 13:00"), obs)
    assert single.sizes == {"object": 1, "time": 1}
    assert ref["ra"].dims == ("object", "time")
    assert ref["norad_id"].values.tolist() == [25544]
    assert Observer.from_attr(ref.attrs["observer"]) == obs
    assert json.loads(ref.attrs["versions"])["sgp4"] == sgp4.__version__
    with pytest.raises(InputError, match="times: expected UTC datetimes"):
        predict(cat, ["not a time"], obs)


def test_rate_and_motion_angle_match_finite_differences():
    cat = read_tle(f"{ISS1}\n{ISS2}\n")
    obs = Observer.from_tle(SC1, SC2)
    t0 = pd.Timestamp("2008-09-20 12:40")
    ds = predict(cat, [t0, t0 + pd.Timedelta("10ms")], obs)
    ra, dec = ds["ra"].values[0], ds["dec"].values[0]
    d_east = (ra[1] - ra[0]) * np.cos(np.radians(dec[0])) * 3600 / 0.01
    d_north = (dec[1] - dec[0]) * 3600 / 0.01
    assert ds["rate_arcsec_s"].values[0, 0] == pytest.approx(np.hypot(d_east, d_north), rel=1e-3)
    pa = np.degrees(np.arctan2(d_east, d_north)) % 360
    assert ds["motion_pa_deg"].values[0, 0] == pytest.approx(pa, abs=0.05)


def test_light_time_moves_object_back_along_its_path():
    cat = read_tle(f"{ISS1}\n{ISS2}\n")
    obs = Observer.ground(*GENEVA)
    t = [pd.Timestamp("2008-09-20 13:00")]
    geo = predict(cat, t, obs)
    lt = predict(cat, t, obs, light_time=True)
    tau = geo["range_km"].values[0, 0] / 299792.458
    shift = sep_arcsec(geo["ra"].values, geo["dec"].values, lt["ra"].values, lt["dec"].values)
    # the apparent motion over tau is what light time moves the object by
    assert shift[0, 0] == pytest.approx(geo["rate_arcsec_s"].values[0, 0] * tau, rel=0.05)


def test_sunlit_and_phase_angle_geometry():
    sun = np.array([[1.496e8, 0.0, 0.0]])
    obs_r = np.array([[0.0, 0.0, 0.0]])
    zero = np.zeros((1, 3))
    # in front of the Earth, behind it, behind it but outside the shadow cylinder
    r = np.array([[[7000.0, 0, 0]], [[-7000.0, 0, 0]], [[-7000.0, 0, 6500.0]]])
    out = apparent(r, np.zeros_like(r), obs_r, zero, sun)
    assert out["sunlit"][:, 0].tolist() == [True, False, True]
    # observer at the centre: the object in front is seen fully lit from behind (phase 180)
    np.testing.assert_allclose(out["phase_angle_deg"][:2, 0], [180.0, 0.0], atol=1e-6)
    side = apparent(np.array([[[0.0, 7000.0, 0]]]), np.zeros((1, 1, 3)), obs_r, zero, sun)
    assert side["phase_angle_deg"][0, 0] == pytest.approx(90.0, abs=0.01)


def test_history_file_uses_closest_epoch_within_window(ver):
    hist = ver.select(5)  # one set; add a second epoch of the same object 10 days later
    from sgp4.api import Satrec
    from sgp4.exporter import export_tle

    s = Satrec.twoline2rv(hist.table.loc[0, "line1"], hist.table.loc[0, "line2"])
    l1, l2 = export_tle(s)
    l1 = l1[:18] + "00189.78495062" + l1[32:68]
    from sgp4.io import compute_checksum

    l1 += str(compute_checksum(l1))
    two = read_tle(hist.to_tle() + f"{l1}\n{l2}\n" + f"{ISS1}\n{ISS2}\n")
    t = pd.to_datetime(["2000-06-28", "2000-07-10", "2000-07-20"])
    sel = select_epochs(two, t)
    assert sel["row"].values.tolist() == [[0, 1, 1], [2, 2, 2]]
    assert sel["epoch_age_h"].values[0, 0] == pytest.approx(5.2, abs=0.1)
    win = select_epochs(two, t, window_h=48)
    assert win["row"].values.tolist() == [[0, -1, -1], [-1, -1, -1]]
    with pytest.warns(SatlabWarning, match="no element set within the window") as caught:
        ds = predict(two, t, Observer.ground(*GENEVA), window_h=48)
    assert (ds["sgp4_error"].values == NO_ELEMENTS).sum() == 5
    assert np.isfinite(ds["ra"].values).sum() == 1
    assert ds["norad_id"].values.tolist() == [5, 25544]
    assert not any("30 days" in str(w.message) for w in caught)
    with pytest.warns(SatlabWarning) as caught:
        predict(two, t, Observer.ground(*GENEVA))
    assert any("more than 30 days" in str(w.message) for w in caught)
    with pytest.raises(InputError, match="window_h"):
        select_epochs(two, t, window_h=0)


def test_invalid_verification_entries_are_flagged_not_silent():
    text = Path(VER_TLE).read_text()
    with pytest.warns(SatlabWarning, match="skipped 1"):
        bad = read_tle(text[text.index("1 33333U") :], checksum=False, errors="skip").select(
            [33333, 33335]
        )
    times = bad.table["epoch"].iloc[0] + pd.to_timedelta([0.0, 150.0, 1440.0 * 30], unit="min")
    with pytest.warns(SatlabWarning) as caught:
        ds = predict(bad, times, Observer.ground(*GENEVA))
    assert any("NaN (SGP4 error codes" in str(w.message) for w in caught)
    err = ds["sgp4_error"].values
    assert (err > 0).any()
    assert np.isnan(ds["ra"].values[err != 0]).all()
    assert np.isfinite(ds["ra"].values[err == 0]).all()
    assert not ds["sunlit"].values[err != 0].any()


def test_observer_validation_and_attr_roundtrip():
    from astropy import units as u

    g = Observer.ground(-24.6 * u.deg, 289.6, 2.635 * u.km, name="Paranal")
    assert g.lon_deg == pytest.approx(-70.4) and g.height_m == pytest.approx(2635.0)
    assert Observer.from_attr(g.to_attr()) == g
    sc = Observer.from_tle(SC1, SC2, name="CHEOPS-like")
    assert Observer.from_attr(sc.to_attr()) == sc
    assert "CHEOPS-like" in str(sc)
    with pytest.raises(InputError, match="height_m: expected -500"):
        Observer.ground(10, 10, -600)
    with pytest.raises(InputError, match=r"lat_deg: expected -90\.\.90"):
        Observer.ground(95, 10, 0)
    with pytest.raises(InputError, match="observer: expected the JSON"):
        Observer.from_attr("geneva")
    with pytest.raises(CatalogueError, match="checksum"):
        Observer.from_tle(SC1[:-1] + "5", SC2)
    # a drag term so large the orbit decays within a day
    decaying = Observer.from_tle(ISS1[:53] + " 50000-0 0  2923", ISS2)
    with pytest.raises(InputError, match="SGP4 cannot propagate the spacecraft to 2008-09-22"):
        decaying.posvel_gcrs(np.array(["2008-09-22"], dtype="datetime64[ns]"))


def test_empty_catalogue_gives_empty_typed_result():
    with pytest.warns(SatlabWarning, match="no element sets"):
        empty = read_tle("\n")
    with pytest.warns(SatlabWarning, match="catalogue is empty"):
        ds = predict(empty, pd.to_datetime(["2021-01-01"]), Observer.ground(*GENEVA))
    assert ds.sizes == {"object": 0, "time": 1}
    assert ds["ra"].dtype == float and ds["sgp4_error"].dtype == np.int8


def test_times_beyond_the_earth_orientation_tables_warn():
    cat = read_tle(f"{ISS1}\n{ISS2}\n")
    for observer in (Observer.ground(*GENEVA), Observer.from_tle(SC1, SC2)):
        with pytest.warns(SatlabWarning) as caught:
            ds = predict(cat, pd.to_datetime(["2150-01-01"]), observer)
        text = " ".join(str(w.message) for w in caught)
        assert "leap-second tables" in text and "more than 30 days" in text
        assert ds["sgp4_error"].values[0, 0] != 0 and np.isnan(ds["ra"].values[0, 0])


def test_positions_after_decay_are_flagged_even_without_an_sgp4_error():
    # heavy drag: SGP4 reports decay (6), then its drag polynomial turns round and returns
    # positions at 100,000 km with error code 0; satlab flags those as NON_PHYSICAL
    cat = read_tle(
        "1 A1794U 26001A   06150.32069113  .99999999  00000-0  13519+0 0    00\n"
        "2 A1794  82.4288 294.0916 0015848 156.3251 350.9163 15.93343074    01\n"
    )
    times = cat.table["epoch"][0] + pd.to_timedelta([0, 18, 36, 48], unit="h")
    with pytest.warns(SatlabWarning, match=r"SGP4 error codes \[6, 7\]"):
        ds = predict(cat, times, Observer.ground(*GENEVA))
    assert ds["sgp4_error"].values.tolist() == [[0, 6, NON_PHYSICAL, NON_PHYSICAL]]
    assert np.isfinite(ds["ra"].values[0]).tolist() == [True, False, False, False]


def test_spacecraft_observer_from_its_closest_element_set():
    from sgp4.api import Satrec
    from sgp4.exporter import export_tle

    sat = Satrec.twoline2rv(SC1, SC2)
    later = export_tle(sat)[0][:18] + "06160.00000000" + export_tle(sat)[0][32:68]
    later += str(sum(int(c) if c.isdigit() else c == "-" for c in later) % 10)
    history = read_tle(f"0 CHEOPS-like\n{SC1}\n{SC2}\n0 CHEOPS-like\n{later}\n{SC2}\n")
    early = Observer.from_catalogue(history, 44874, pd.Timestamp("2006-06-02"))
    late = Observer.from_catalogue(history, 44874, pd.Timestamp("2006-06-09"))
    assert early.line1 == SC1 and late.line1 == later and late.name == "CHEOPS-like"
    with pytest.raises(InputError, match="norad_id: 99 is not in the catalogue"):
        Observer.from_catalogue(history, 99, pd.Timestamp("2006-06-02"))

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import satlab
from satlab.errors import FrameError, InputError, SatlabError, SatlabWarning
from satlab.frames import arcsinh_normalise, as_frames, circular_footprint


def test_numpy_cube_becomes_frames():
    ds = as_frames(np.ones((3, 5, 7), dtype=np.int16), exptime=2.0)
    assert ds["flux"].dims == ("frame", "y", "x")
    assert ds["flux"].dtype == np.float32
    assert ds["valid"].dims == ("y", "x") and bool(ds["valid"].all())
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert np.isnat(ds["time"].values).all()
    np.testing.assert_array_equal(ds["exptime"].values, [2.0, 2.0, 2.0])


def test_image_gets_a_frame_axis_and_keeps_coords():
    img = xr.DataArray(np.zeros((4, 6)), dims=("y", "x"))
    ds = as_frames(img, time="2024-01-01T00:00:30", exptime=60)
    assert ds.sizes == {"frame": 1, "y": 4, "x": 6}
    assert ds["time"].values[0] == np.datetime64("2024-01-01T00:00:30", "ns")


def test_transposed_dataarray_and_big_endian():
    data = np.arange(24, dtype=">f8").reshape(2, 3, 4)
    arr = xr.DataArray(data, dims=("frame", "y", "x")).transpose("x", "frame", "y")
    ds = as_frames(arr)
    assert ds["flux"].dims == ("frame", "y", "x")
    assert ds["flux"].dtype == np.dtype("float32") and ds["flux"].dtype.isnative
    np.testing.assert_array_equal(ds["flux"].values, data.astype(np.float32))


def test_nan_and_inf_are_masked_never_zero():
    data = np.ones((2, 4, 4), np.float32)
    data[0, 1, 1] = np.inf
    data[1, 2, 2] = np.nan
    with pytest.warns(SatlabWarning, match="2 non-finite"):
        ds = as_frames(data)
    assert np.isnan(ds["flux"].values[0, 1, 1]) and np.isnan(ds["flux"].values[1, 2, 2])
    good = ds.satlab.good.values
    assert good.sum() == data.size - 2
    assert not good[0, 1, 1] and good[1, 1, 1]


def test_lazy_input_stays_lazy():
    data = da.ones((10, 8, 8), chunks=(5, 8, 8), dtype="f8")
    ds = as_frames(data)
    assert isinstance(ds["flux"].data, da.Array)
    assert ds["flux"].data.chunks[0] == (5, 5)
    assert isinstance(ds.satlab.good.data, da.Array)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.ones(5), "got 1 dims"),
        (np.ones((2, 2, 2, 2)), "got 4 dims"),
        (np.ones((0, 4, 4)), "non-empty"),
        (np.array([["a"]]), "numeric"),
        (xr.Dataset({"image": (("y", "x"), np.ones((2, 2)))}), "'flux'"),
        (xr.DataArray(np.ones((2, 2)), dims=("a", "b")), "dims"),
        ("not frames", "got str"),
    ],
)
def test_bad_frames_raise_frame_error(bad, match):
    with pytest.raises(FrameError, match=match):
        as_frames(bad)


def test_bad_coords():
    with pytest.raises(FrameError, match="one value per frame"):
        as_frames(np.ones((3, 2, 2)), exptime=[1.0, 2.0])
    with pytest.raises(InputError, match="exptime"):
        as_frames(np.ones((1, 2, 2)), exptime=-1)
    with pytest.raises(FrameError, match="valid"):
        as_frames(np.ones((1, 2, 2)), valid=np.ones((3, 3), bool))
    assert issubclass(FrameError, SatlabError) and issubclass(FrameError, ValueError)


def test_results_merge_with_input():
    ds = as_frames(np.ones((3, 4, 4)), time=["2024-01-01", "2024-01-02", "2024-01-03"])
    stretched = ds.satlab.arcsinh()
    merged = xr.merge([ds, stretched])
    assert "flux_arcsinh" in merged and merged.sizes["frame"] == 3


def test_arcsinh_matches_seed_002_eq1():
    rng = np.random.default_rng(0)
    img = rng.normal(50, 3, (16, 16)).astype(np.float32)
    expected = np.arcsinh((img - img.mean()) / img.std())
    np.testing.assert_allclose(arcsinh_normalise(img), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(arcsinh_normalise(np.full((4, 4), 7.0)), 0.0)


def test_arcsinh_ignores_masked_pixels():
    img = np.ones((8, 8), np.float32)
    img[::2] = 3.0
    mask = np.ones((8, 8), bool)
    img_bad = img.copy()
    img_bad[0, 0] = 1e9
    mask[0, 0] = False
    out = arcsinh_normalise(img_bad, mask=mask)
    ref = arcsinh_normalise(img)
    np.testing.assert_allclose(out[1:], ref[1:], atol=0.05)


def test_zscale_maps_to_unit_interval():
    rng = np.random.default_rng(1)
    data = rng.normal(100, 10, (2, 32, 32))
    data[0, 5, 5] = 1e6
    z = satlab.as_frames(data).satlab.zscale()
    vals = z.values
    assert vals.min() >= 0 and vals.max() <= 1
    assert 0.3 < np.median(vals) < 0.7
    with pytest.raises(InputError, match="contrast"):
        satlab.as_frames(data).satlab.zscale(contrast=0)


def test_circular_footprint_matches_cheops_crop():
    m = circular_footprint((200, 200))
    assert m[100, 100] and not m[0, 0] and m[100, 0] and m[0, 100]
    assert abs(m.mean() - np.pi / 4) < 0.01


def test_summary_reads_no_pixels():
    data = da.ones((4, 8, 8), chunks=(1, 8, 8))
    s = as_frames(data, exptime=30).satlab.summary()
    assert s["frames"] == 4 and s["lazy"] and s["exptime_s"] == 30.0

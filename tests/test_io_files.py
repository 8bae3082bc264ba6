import dask.array as da
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import satlab
from satlab.errors import (
    FileFormatError,
    FrameError,
    MissingFileError,
    OutputExistsError,
    SatlabWarning,
)


def _fits_image(path, data, **header):
    hdu = fits.PrimaryHDU(data)
    for key, value in header.items():
        hdu.header[key.replace("_", "-")] = value
    hdu.writeto(path)
    return path


def test_generic_image_with_date_exptime_and_wcs(tmp_path):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crpix = [32.5, 24.5]  # the centre of 64 x 48
    w.wcs.crval = [210.0, -45.0]
    w.wcs.cd = np.array([[-1.0, 0.0], [0.0, 1.0]]) * 2.0 / 3600
    hdu = fits.PrimaryHDU(np.arange(48 * 64, dtype=np.int32).reshape(48, 64), header=w.to_header())
    hdu.header["DATE-OBS"] = "2023-05-06T07:08:09"
    hdu.header["EXPTIME"] = 10.0
    hdu.writeto(tmp_path / "img.fits")
    ds = satlab.open_frames(tmp_path / "img.fits")
    assert ds.sizes == {"frame": 1, "y": 48, "x": 64}
    assert ds["time"].values[0] == np.datetime64("2023-05-06T07:08:14", "ns")  # mid-exposure
    assert ds["ra"].values[0] == pytest.approx(210.0) and ds["dec"].values[0] == pytest.approx(
        -45.0
    )
    assert ds["roll"].values[0] == pytest.approx(0.0, abs=1e-9)
    assert ds.attrs["pixel_scale"] == pytest.approx(2.0) and ds.attrs["parity"] == -1
    assert ds["flux"].values[0, 1, 0] == 64.0  # integer data -> float32, row-major


def test_cube_with_one_start_time_warns(tmp_path):
    _fits_image(
        tmp_path / "cube.fits",
        np.zeros((3, 4, 5), ">f4"),
        DATE_OBS="2020-01-01T00:00:00",
        EXPTIME=2.0,
    )
    with pytest.warns(SatlabWarning, match="back to back"):
        ds = satlab.open_frames(tmp_path / "cube.fits")
    np.testing.assert_array_equal(
        ds["time"].values - ds["time"].values[0], np.array([0, 2, 4], "timedelta64[s]")
    )


def test_fits_without_time_warns_nat(tmp_path):
    _fits_image(tmp_path / "a.fits", np.zeros((4, 4)))
    with pytest.warns(SatlabWarning, match="time is NaT"):
        ds = satlab.open_frames(tmp_path / "a.fits")
    assert np.isnat(ds["time"].values).all()


def test_missing_file_and_empty_glob(tmp_path):
    with pytest.raises(MissingFileError, match=r"nope\.fits"):
        satlab.open_frames(tmp_path / "nope.fits")
    with pytest.raises(MissingFileError, match="matched no files"):
        satlab.open_frames(str(tmp_path / "CH_PR*.fits"))
    assert issubclass(MissingFileError, FileNotFoundError)


def test_not_a_fits(tmp_path):
    (tmp_path / "x.fits").write_text("hello, I am text\n" * 50)
    with pytest.raises(FileFormatError, match=r"x\.fits: not a readable FITS"):
        satlab.open_frames(tmp_path / "x.fits")


def test_truncated_fits(tmp_path):
    path = _fits_image(tmp_path / "t.fits", np.ones((10, 100, 100)), DATE_OBS="2020-01-01")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match="truncated"):
        satlab.open_frames(path)


def test_four_dim_cube(tmp_path):
    _fits_image(tmp_path / "4d.fits", np.zeros((2, 2, 3, 3)))
    with pytest.raises(FrameError, match="4 axes"):
        satlab.open_frames(tmp_path / "4d.fits")


def test_nan_and_inf_in_file(tmp_path):
    data = np.ones((5, 5), ">f8")
    data[1, 1], data[2, 2] = np.nan, -np.inf
    _fits_image(tmp_path / "n.fits", data, DATE_OBS="2020-01-01")
    with pytest.warns(SatlabWarning, match="2 non-finite"):
        ds = satlab.open_frames(tmp_path / "n.fits")
    assert np.isnan(ds["flux"].values[0, 2, 2])


def test_glob_is_lazy_sorted_and_reads_on_compute(cheops_file, tmp_path):
    # written out of time order; the loader sorts by time
    cheops_file("CH_PR1_TG1_TU2_SCI_COR_SubArray_V0300.fits", start="2022-01-02T00:00:00")
    cheops_file(
        "CH_PR1_TG1_TU1_SCI_COR_SubArray_V0300.fits",
        start="2022-01-01T00:00:00",
        target_name="OTHER",
    )
    ds = satlab.open_frames(str(tmp_path / "CH_PR*_SCI_COR_SubArray_V*.fits"))
    assert isinstance(ds["flux"].data, da.Array)
    assert ds["flux"].data.chunks[0] == (4, 4)
    assert np.all(np.diff(ds["time"].values) > np.timedelta64(0))
    assert ds["file"].values[0].startswith("CH_PR1_TG1_TU1")
    # differing per-file attrs become frame coords
    assert list(ds["target_name"].values) == ["OTHER"] * 4 + ["SIMULATED"] * 4
    assert "target_name" not in ds.attrs and ds.attrs["instrument"] == "CHEOPS"
    mean = ds["flux"].where(ds["valid"]).mean().compute()
    assert float(mean) == pytest.approx(100.0, abs=0.1)


def test_chunks_make_single_file_lazy(cheops_file):
    ds = satlab.open_frames(cheops_file(), chunks={"frame": 2})
    assert ds["flux"].data.chunks[0] == (2, 2)


def test_mixed_shapes_name_both_files(cheops_file, tmp_path):
    a = cheops_file("CH_PR1_A_SCI_COR_SubArray_V1.fits")
    b = cheops_file("CH_PR1_B_SCI_COR_SubArray_V1.fits", shape=(100, 100))
    with pytest.raises(FrameError, match="mixed frame shapes") as info:
        satlab.open_frames([a, b])
    assert a.name in str(info.value) and b.name in str(info.value)


def test_fits_export_round_trip(cheops_file, tmp_path):
    ds = satlab.open_frames(cheops_file())
    out = ds.satlab.to_fits(tmp_path / "export.fits")
    back = satlab.open_frames(out)
    np.testing.assert_array_equal(back["flux"].values, ds["flux"].values)
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)
    np.testing.assert_array_equal(back["valid"].values, ds["valid"].values)
    for name in ("exptime", "ra", "dec", "roll"):
        np.testing.assert_allclose(back[name].values, ds[name].values)
    assert back.attrs["pixel_scale"] == ds.attrs["pixel_scale"]
    assert back.attrs["instrument"] == "CHEOPS"


def test_zarr_round_trip_is_lazy(cheops_file, tmp_path):
    ds = satlab.open_frames(cheops_file())
    store = ds.satlab.to_zarr(tmp_path / "frames.zarr")
    back = satlab.open_frames(store)
    assert isinstance(back["flux"].data, da.Array)
    np.testing.assert_array_equal(back["flux"].values, ds["flux"].values)
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)
    np.testing.assert_allclose(back["roll"].values, ds["roll"].values)
    assert back.attrs["mag_g"] == 9.5
    with pytest.raises(
        OutputExistsError, match="already exists"
    ):  # never overwrites an earlier run's store
        ds.satlab.to_zarr(tmp_path / "frames.zarr")


def test_png_rgb_to_luminance_and_16bit(tmp_path):
    import tifffile
    from PIL import Image

    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 1] = 200
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    grey16 = (np.arange(120, dtype=np.uint16) * 500).reshape(10, 12)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    tifffile.imwrite(tmp_path / "f.tif", grey16.astype(np.float32) / 7)
    with pytest.warns(SatlabWarning, match="no observation time"):
        ds = satlab.open_frames(tmp_path / "rgb.png")
    assert ds.sizes == {"frame": 1, "y": 10, "x": 12}
    assert ds["flux"].values[0, 0, 0] == pytest.approx(0.7154 * 200, rel=1e-5)
    with pytest.warns(SatlabWarning):
        g = satlab.open_frames(tmp_path / "g16.png")
    assert g["flux"].values.max() == 119 * 500
    with pytest.warns(SatlabWarning):
        t = satlab.open_frames(tmp_path / "f.tif")
    np.testing.assert_allclose(t["flux"].values[0], grey16 / 7, rtol=1e-6)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(FileFormatError, match=r"bad\.jpg"):
        satlab.open_frames(tmp_path / "bad.jpg")

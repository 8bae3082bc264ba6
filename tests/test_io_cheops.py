import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import satlab
from satlab.errors import FileFormatError, FrameError
from satlab.io.wcs import frame_wcs


def test_cheops_layout_loads_with_times_pointing_and_footprint(cheops_file):
    path = cheops_file(ra=150.0, dec=20.0)
    ds = satlab.open_frames(path)
    assert ds.attrs["instrument"] == "CHEOPS"
    assert ds.sizes == {"frame": 4, "y": 200, "x": 200}
    assert ds["flux"].dtype == np.float32
    # mid-exposure UTC from UTC_TIME
    assert str(ds["time"].values[0]).startswith("2022-03-04T05:06:37")
    np.testing.assert_allclose(ds["exptime"].values, 60.0)  # TEXPTIME = 30 s x 2
    np.testing.assert_allclose(ds["roll"].values, [30, 31, 32, 33], atol=1e-9)
    np.testing.assert_allclose(ds["ra"].values, 150.0, atol=1e-9)
    np.testing.assert_allclose(ds["dec"].values, 20.0, atol=1e-9)
    assert ds.attrs["pixel_scale"] == pytest.approx(1.0)
    assert ds.attrs["mag_g"] == 9.5 and ds.attrs["nexp"] == 2
    # outside the crop: not valid and NaN (0 in the file), never a fake zero sky
    assert not ds["valid"].values[0, 0] and ds["valid"].values[100, 100]
    assert np.isnan(ds["flux"].values[:, 0, 0]).all()
    assert np.isfinite(ds["flux"].values[:, ds["valid"].values]).all()
    assert "bjd_time" in ds.coords and "los_to_earth_angle" not in ds.coords


def test_nan_outside_crop_is_handled_like_zero(cheops_file):
    ds = satlab.open_frames(cheops_file(outside_value=np.nan))
    assert np.isnan(ds["flux"].values[:, 0, 0]).all()
    assert (
        ds["valid"].sum()
        == satlab.open_frames(cheops_file("CH_PR1_SCI_COR_SubArray_V1.fits"))["valid"].sum()
    )


def test_pointing_agrees_with_astropy_wcs(cheops_file):
    """Vectorised TAN deprojection vs astropy.wcs built from the file's own columns."""
    path = cheops_file(ra=[10.0, 10.0, 10.0, 10.0], dec=[80.0, 80.0, 80.0, 80.0])
    # move CRPIX off-centre so the deprojection is exercised
    with fits.open(path, mode="update") as hdul:
        meta = hdul["SCI_COR_ImageMetadata"].data
        meta["CRPIX1"] += 37.0
        meta["CRPIX2"] -= 21.0
    ds = satlab.open_frames(path)
    with fits.open(path) as hdul:
        row = hdul["SCI_COR_ImageMetadata"].data[2]
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crpix = [row["CRPIX1"], row["CRPIX2"]]
        w.wcs.crval = [row["CRVAL1"], row["CRVAL2"]]
        w.wcs.cd = [[row["CD1_1"], row["CD1_2"]], [row["CD2_1"], row["CD2_2"]]]
    sky = w.pixel_to_world(99.5, 99.5)
    assert abs(sky.ra.deg - ds["ra"].values[2]) * np.cos(np.radians(80)) * 3600 < 1e-3
    assert abs(sky.dec.deg - ds["dec"].values[2]) * 3600 < 1e-3
    # and frame_wcs rebuilds the same orientation: +y points at position angle roll
    fw = frame_wcs(ds, 2)
    c0, c1 = fw.pixel_to_world([99.5, 99.5], [99.5, 109.5])
    assert c0.position_angle(c1).deg == pytest.approx(ds["roll"].values[2], abs=1e-3)


def test_cal_and_raw_levels_and_mjd_fallback(cheops_file):
    path = cheops_file(level="CAL")
    with fits.open(path) as hdul:
        cube, meta = hdul[1], hdul[2]
        cols = [c for c in meta.columns if c.name != "UTC_TIME"]
        meta = fits.BinTableHDU.from_columns(cols, name="SCI_CAL_ImageMetadata")
        fits.HDUList([hdul[0].copy(), cube.copy(), meta]).writeto(path, overwrite=True)
    ds = satlab.open_frames(path)
    assert str(ds["time"].values[0]).startswith("2022-03-04T05:06:3")


def _rewrite_without(path, ext=None, cols=()):
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul if h.name != ext]
        if cols:
            meta = next(h for h in hdus if h.name == "SCI_COR_IMAGEMETADATA")
            keep = [c for c in meta.columns if c.name not in cols]
            hdus = [
                h if h is not meta else fits.BinTableHDU.from_columns(keep, name=h.name)
                for h in hdus
            ]
        fits.HDUList(hdus).writeto(path, overwrite=True)


def test_missing_metadata_extension_is_named(cheops_file):
    path = cheops_file()
    _rewrite_without(path, ext="SCI_COR_IMAGEMETADATA")
    with pytest.raises(FileFormatError, match="SCI_COR_ImageMetadata not found"):
        satlab.open_frames(path)


def test_missing_time_columns_are_named(cheops_file):
    path = cheops_file()
    _rewrite_without(path, cols=("UTC_TIME", "MJD_TIME"))
    with pytest.raises(FileFormatError, match="UTC_TIME or MJD_TIME"):
        satlab.open_frames(path)


def test_missing_cube_extension_is_named(cheops_file):
    path = cheops_file()
    _rewrite_without(path, ext="SCI_COR_SUBARRAY")
    with pytest.raises(FileFormatError, match="SCI_COR_SubArray"):
        satlab.open_frames(path)


def test_cube_with_wrong_dims(cheops_file, tmp_path):
    path = cheops_file()
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    hdus[1] = fits.ImageHDU(np.zeros((200, 200)), name="SCI_COR_SubArray")
    fits.HDUList(hdus).writeto(path, overwrite=True)
    with pytest.raises(FrameError, match="expected a \\(frame, y, x\\) cube"):
        satlab.open_frames(path)


def test_row_count_mismatch(cheops_file):
    path = cheops_file()
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    hdus[2] = fits.BinTableHDU(hdus[2].data[:2], name="SCI_COR_ImageMetadata")
    fits.HDUList(hdus).writeto(path, overwrite=True)
    with pytest.raises(FileFormatError, match="2 rows for 4 frames"):
        satlab.open_frames(path)


def test_truncated_cheops_file(cheops_file):
    path = cheops_file()
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match="truncated"):
        satlab.open_frames(path)


def test_cheops_named_file_that_is_not_fits(tmp_path):
    path = tmp_path / "CH_PR1_TG1_SCI_COR_SubArray_V0300.fits"
    path.write_text("SIMPLE? no.\n" * 300)
    with pytest.raises(FileFormatError, match="not a readable FITS"):
        satlab.open_frames(path)

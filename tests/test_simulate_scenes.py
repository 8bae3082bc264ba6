"""Scenes: composite injection into a real image, catalogue stars, PSF from a background."""

import numpy as np
import pandas as pd
import pytest

import satlab
from satlab.errors import InputError, MissingFileError
from satlab.simulate import (
    CatalogScene,
    CompositeScene,
    Telescope,
    hipparcos_catalogue,
    psf_from_image,
    simulate_frames,
    truth_table,
)


@pytest.fixture(scope="module")
def hubble():
    from skimage.data import hubble_deep_field

    return hubble_deep_field()[:256, :256].mean(axis=2).astype(np.float32) * 10.0 + 100.0


def test_composite_scene_injects_streaks_into_a_real_background(hubble):
    ds = simulate_frames("evscope1", 3, seed=2, trail_fraction=1.0, scene=CompositeScene(hubble))
    assert ds["flux"].shape == (3, 256, 256) and ds.attrs["instrument"] == "composite"
    diff = ds["flux"].values - hubble[None]
    mask = ds["trail_mask"].values
    # outside the trail the background is the real image, untouched
    assert np.median(np.abs(diff[~mask])) == 0.0
    assert diff[mask].mean() > 0
    df = truth_table(ds)
    assert len(df) == 3 and (df["snr_avg"] > 0).all()
    # sigma_bg comes from the real image: the ratio of the two S/N is the mask size
    np.testing.assert_allclose(df["snr_tot"] / df["snr_avg"], mask.sum(axis=(1, 2)), rtol=1e-6)


def test_catalog_scene_projects_through_the_frame_wcs():
    stars = pd.DataFrame(
        {
            "ra_deg": [150.0, 150.0, 150.0],
            "dec_deg": [20.0, 20.0 + 30 / 3600, -10.0],
            "mag": [9.0, 10.0, 8.0],
        }
    )
    scene = CatalogScene(stars)
    got = scene.draw(None, (200, 200), 1.0, ra=150.0, dec=20.0, roll=0.0)
    assert len(got) == 2  # the third star is far outside the field
    np.testing.assert_allclose([got.x[0], got.y[0]], [99.5, 99.5], atol=1e-6)
    # roll 0: +y is north, so a star 30" north sits 30 px above the centre
    np.testing.assert_allclose([got.x[1], got.y[1]], [99.5, 129.5], atol=0.01)
    turned = scene.draw(None, (200, 200), 1.0, ra=150.0, dec=20.0, roll=90.0)
    assert abs(turned.y[1] - 99.5) < 0.01 and abs(abs(turned.x[1] - 99.5) - 30.0) < 0.01
    with pytest.raises(InputError, match="mag"):
        CatalogScene(stars.drop(columns="mag"))


def test_psf_from_image_measures_the_stars(rng):
    from scipy.ndimage import gaussian_filter

    img = np.zeros((300, 300))
    pts = rng.integers(20, 280, (25, 2))
    img[pts[:, 0], pts[:, 1]] = rng.uniform(5e4, 1e5, 25)
    sigma = 2.0
    img = gaussian_filter(img, sigma) + rng.normal(100.0, 3.0, img.shape)
    psf = psf_from_image(img, size=21)
    assert psf.fwhm_px == pytest.approx(2.3548 * sigma, rel=0.15)
    tel = Telescope(diameter=0.1, focal_length=1.0, mode="background", background_psf=psf)
    assert tel.psf(5.0) is psf
    with pytest.raises(InputError, match="at least 3 bright stars"):
        psf_from_image(rng.normal(100.0, 3.0, (100, 100)))


def test_hipparcos_needs_the_wheel(tmp_path):
    with pytest.raises(MissingFileError, match="pip download --no-deps cedar-solve"):
        hipparcos_catalogue(cache_dir=tmp_path)


def test_hipparcos_from_a_cedar_solve_wheel(tmp_path, monkeypatch):
    """The wheel layout cedar-solve ships: tetra3/data/default_database.npz, star_table."""
    import io
    import zipfile

    from click.testing import CliRunner

    from satlab.cli import main

    ra = np.radians([10.0, 10.0 + 20 / 3600, 200.0])
    dec = np.radians([-5.0, -5.0, 40.0])
    xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)
    table = np.column_stack([ra, dec, xyz, [6.5, 7.0, 3.0]]).astype(np.float32)
    buf = io.BytesIO()
    np.savez(buf, star_table=table)
    with zipfile.ZipFile(tmp_path / "cedar_solve-0.5.1-py3-none-any.whl", "w") as zf:
        zf.writestr("tetra3/data/default_database.npz", buf.getvalue())
    cat = hipparcos_catalogue(cache_dir=tmp_path)
    np.testing.assert_allclose(cat["ra_deg"], [10.0, 10.0 + 20 / 3600, 200.0], atol=1e-4)
    np.testing.assert_allclose(cat["mag"], [6.5, 7.0, 3.0])
    got = CatalogScene(cat).draw(None, (200, 200), 1.0, ra=10.0, dec=-5.0, roll=0.0)
    assert len(got) == 2  # the pointing star and its neighbour 20" east
    monkeypatch.setenv("SATLAB_CACHE", str(tmp_path))
    res = CliRunner().invoke(
        main,
        [
            "simulate",
            "frames",
            "--seed",
            "1",
            "-n",
            "2",
            "--catalog",
            "hipparcos",
            "--ra",
            "10",
            "--dec",
            "-5",
            "--out",
            str(tmp_path / "cat.zarr"),
        ],
    )
    assert res.exit_code == 0, res.output
    made = satlab.open_frames(tmp_path / "cat.zarr")
    np.testing.assert_allclose(made["ra"].values, 10.0)
    assert (made["n_stars"].values == 3).all()  # the CHEOPS target and the two catalogue stars

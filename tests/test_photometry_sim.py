"""Photometry against the simulator: trails of known magnitude (CHEOPS preset)."""

import numpy as np
import pytest

from satlab.photometry import PSF, trail_photometry
from satlab.simulate import get_preset, simulate_frames, truth_table


@pytest.mark.slow
def test_cheops_trails_of_known_magnitude():
    preset = get_preset("cheops")
    ds = simulate_frames(
        preset, 4, seed=11, trail_fraction=1.0, mag_range=(6.0, 9.0),
        jitter_fraction=0.0, variation_fraction=0.0,
    )  # fmt: skip
    truth = truth_table(ds)
    psf = PSF.from_image(
        preset.telescope.psf(preset.detector.pixel_size).kernel, pixel_integrated=False
    )
    # the zero point comes from the frames' attrs, the rate from the truth (as crossmatch)
    phot = trail_photometry(ds, truth, psf=psf)
    assert (phot["rate_source"] == "rate_arcsec_s").all()
    dm = phot["mag"] - truth["mag"]
    assert np.isfinite(dm).all()
    assert np.median(np.abs(dm)) < 0.05
    # the refined geometry stays on the simulated line
    dtheta = (phot["theta"] - truth["theta"] + 90.0) % 180.0 - 90.0
    assert np.median(np.abs(dtheta)) < 1.0
    ap = trail_photometry(ds, truth, psf=psf, method="aperture")
    assert np.isfinite(ap["mag"]).sum() >= 3
    assert np.nanmedian(np.abs(ap["mag"] - truth["mag"])) < 0.3


@pytest.mark.slow
def test_sample_archive_calibrated_on_the_target_star():
    """The bundled sample visits: zero point from MAG_CHPS, standard magnitudes vs truth."""
    import pandas as pd

    from satlab.catalog import open_catalog
    from satlab.photometry import standard_magnitude

    cat = open_catalog()
    ds = cat["cheops-sample"].read()
    truth = cat["cheops-archive-truth"].read()
    truth = truth[truth["file"].isin(set(ds["file"].values))].reset_index(drop=True)
    assert len(truth) >= 3
    # truth numbers frames over the whole archive: find each one's frame in the sample
    times = pd.to_datetime(ds["time"].values).to_numpy()
    gap = np.abs(times[None, :] - pd.to_datetime(truth["time"]).to_numpy()[:, None])
    assert (gap.min(axis=1) < np.timedelta64(1, "s")).all()
    truth["frame"] = gap.argmin(axis=1)
    preset = get_preset("cheops")
    psf = PSF.from_image(
        preset.telescope.psf(preset.detector.pixel_size).kernel, pixel_integrated=False
    )
    cols = ["frame", "x0", "y0", "x1", "y1", "rate_arcsec_s", "range_km"]
    phot = trail_photometry(ds, truth[cols], psf=psf)
    assert phot.attrs["params"]["zero_point_source"] == "mag_chps"
    ok = np.isfinite(phot["mag"])
    assert ok.sum() >= len(truth) - 1
    # the archive renders with a diffuse-sphere phase law normalised at 45 deg
    m_std = standard_magnitude(
        phot["mag"], truth["range_km"], phase_angle_deg=truth["phase_angle_deg"],
        reference_phase_deg=45.0,
    )  # fmt: skip
    assert np.nanmedian(np.abs(m_std - truth["mag_std"])) < 0.2

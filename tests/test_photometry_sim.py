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

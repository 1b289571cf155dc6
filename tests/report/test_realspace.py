"""The real-space check's cases (braggsynth.report.realspace)."""

import numpy as np

from braggsynth.report import realspace


def test_a_simulated_case_is_cropped_around_its_peak_not_a_brighter_alien_which_stays_unmeasured():
    n, crop = 96, 64
    z, y, x = np.indices((n, n, n))
    counts = 1e4 * np.exp(-((z - 48) ** 2 + (y - 48) ** 2 + (x - 48) ** 2) / 8.0)
    alien = (abs(z - 20) <= 1) & (abs(y - 48) <= 1) & (abs(x - 60) <= 1)
    counts[alien] = 1e6  # an alien 27 voxels wide, far brighter than the peak, masked in the recording
    amplitude = np.sqrt(counts).astype(np.complex64)

    blind = realspace.simulated_case("blind", counts, amplitude, crop)  # the alien taken for the peak
    case = realspace.simulated_case("cube/0000_00", counts, amplitude, crop, unmeasured=alien)

    assert realspace.case_peak(blind) != (32, 32, 32)
    assert realspace.case_peak(case) == (32, 32, 32)
    assert case.unmeasured is not None and case.unmeasured.sum() == alien.sum()
    assert case.unmeasured[32 - 28, 32, 32 + 12]  # the alien's centre, 28 frames before the peak, 12 columns after
    assert case.counts.shape == case.reference.shape == (crop, crop, crop)

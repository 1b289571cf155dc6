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


def test_a_measured_file_whose_gap_free_starts_disagree_gets_its_scores_but_no_verdict():
    versions = {"free": 0.50, "zero": 0.20, "forced: model": 0.80, "interval: model": 0.70, "auto: model": 0.80}

    def rows(pattern, kind, shift=0.0):
        return [{"pattern": pattern, "kind": kind, "gap_width_px": 6, "position": "through", "photon_share": 0.7,
                 "version": version, "samples": 2, "modulus_pcc_mean": pcc + shift, "modulus_pcc_std": 0.01,
                 "phase_rms_rad_mean": 0.3, "phase_rms_rad_std": 0.1, "error_mean": 0.1, "error_drop_mean": 0.0,
                 "mode": "narrowed" if version.startswith("auto") else ""} for version, pcc in versions.items()]

    table = rows("cube/0001_00", "simulated") + rows("measured s11", "measured", 0.05) + rows("measured sixs",
                                                                                             "measured", 0.1)
    floors = {"measured s11": [0.93, 0.95], "measured sixs": [0.41]}
    assert realspace.stable([]) and realspace.stable(floors["measured s11"]) and not realspace.stable([0.41])

    text = realspace.report_markdown(table, [], floors=floors, models=("model",), crop_px=32, sequence="20*ER",
                                     starts=2, figure_name="f.png", curves_name="c.png")
    verdict_rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.endswith("| — |")}
    assert "above free pixels" in verdict_rows["| cube/0001_00"] and "above free" in verdict_rows["| measured s11"]
    assert "no verdict: unstable reference" in verdict_rows["| measured sixs"]
    assert "0.900" in verdict_rows["| measured sixs"]  # its scores are still given
    assert "measured s11 1.000" in text and "measured sixs not measured (its reference is unstable)" in text
    assert "**Unstable references**: measured sixs (floor 0.410)" in text

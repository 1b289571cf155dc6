import numpy as np

from braggsynth import seeds


def test_streams_depend_on_every_part_of_the_key():
    base = seeds.rng(1, "build_particle", "cube", 0).random()
    assert seeds.rng(1, "build_particle", "cube", 0).random() == base
    for other in (seeds.rng(2, "build_particle", "cube", 0), seeds.rng(1, "bragg_peak", "cube", 0),
                  seeds.rng(1, "build_particle", "octa", 0), seeds.rng(1, "build_particle", "cube", 1)):
        assert other.random() != base


def test_streams_do_not_depend_on_other_samples():
    draws = [seeds.rng(3, "rule", "shape", i).normal() for i in range(5)]
    assert np.array_equal(draws[:3], [seeds.rng(3, "rule", "shape", i).normal() for i in range(3)])


def test_the_draws_of_the_workflow_repeat_with_their_seed():
    from braggsynth import seeds
    from braggsynth.simulate import frames, shapes

    corners = np.array([[0.0, 0.0, 0.0], [40.0, 0.0, 0.0], [0.0, 40.0, 0.0], [0.0, 0.0, 40.0]])  # Angstrom
    settings = {"oversampling": [2.5, 4.5], "oversampling_per_axis": True, "max_rotation_deg": 10.0}
    first = frames.draw_orthogonal(seeds.rng(7, "bragg_peak", "cube", 0, 1), corners, settings)
    again = frames.draw_orthogonal(seeds.rng(7, "bragg_peak", "cube", 0, 1), corners, settings)
    assert np.array_equal(first.basis, again.basis) and np.array_equal(first.rotation, again.rotation)
    assert first.oversampling.shape == (3,) and np.all((2.5 <= first.oversampling) & (first.oversampling <= 4.5))
    assert np.allclose(first.rotation @ first.rotation.T, np.eye(3))
    # the same numbers as the rules drew before the draws moved into the package
    rng = seeds.rng(7, "bragg_peak", "cube", 0, 1)
    assert np.array_equal(first.oversampling, rng.uniform(2.5, 4.5, size=3))
    assert shapes.draw_size_nm(seeds.rng(7, "build_particle", "cube", 3), [6, 8]) == \
        float(seeds.rng(7, "build_particle", "cube", 3).uniform(6, 8))

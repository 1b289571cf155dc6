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
    from braggsynth.simulate import scattering, shapes

    first = scattering.draw_pattern_geometry(seeds.rng(7, "bragg_peak", "cube", 0, 1), (2.5, 4.5), per_axis=True,
                                             max_rotation_deg=10.0)
    again = scattering.draw_pattern_geometry(seeds.rng(7, "bragg_peak", "cube", 0, 1), (2.5, 4.5), per_axis=True,
                                             max_rotation_deg=10.0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert first[0].shape == (3,) and np.all((2.5 <= first[0]) & (first[0] <= 4.5))
    assert np.allclose(first[1] @ first[1].T, np.eye(3))
    # the same numbers as the rules drew before the draws moved into the package
    rng = seeds.rng(7, "bragg_peak", "cube", 0, 1)
    assert np.array_equal(first[0], rng.uniform(2.5, 4.5, size=3))
    assert shapes.draw_size_nm(seeds.rng(7, "build_particle", "cube", 3), [6, 8]) == \
        float(seeds.rng(7, "build_particle", "cube", 3).uniform(6, 8))

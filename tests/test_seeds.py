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

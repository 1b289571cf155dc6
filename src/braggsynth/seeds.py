"""The one place that decides random streams.

Every random draw of the pipeline comes from :func:`rng` seeded by the global
seed, the rule (stage) name and the sample key (shape name, particle index,
pattern index...).  Streams are independent of the order in which samples are
processed and of how many there are, so adding a shape or raising a count
never changes the numbers of existing samples.
"""

from __future__ import annotations

import hashlib

import numpy as np


def seed_sequence(seed: int, rule: str, *key) -> np.random.SeedSequence:
    """SeedSequence of (global seed, rule, key...); strings are hashed with SHA-256."""
    words = [int(seed)]
    for part in (rule, *key):
        if isinstance(part, (int, np.integer)):
            words.append(int(part))
        else:
            digest = hashlib.sha256(str(part).encode()).digest()
            words.append(int.from_bytes(digest[:8], "little"))
    return np.random.SeedSequence(words)


def rng(seed: int, rule: str, *key) -> np.random.Generator:
    """Generator for the draws of ``rule`` on the sample ``key``."""
    return np.random.default_rng(seed_sequence(seed, rule, *key))

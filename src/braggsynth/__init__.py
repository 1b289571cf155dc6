"""braggsynth: synthetic BCDI Bragg peaks from relaxed atomistic particles, for detector-gap inpainting."""

__version__ = "0.1.0"

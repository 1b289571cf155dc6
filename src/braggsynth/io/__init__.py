"""All file input and output of braggsynth (HDF5 everywhere), one module per kind of file:

- :mod:`braggsynth.io.files`: what every file shares (atomic writes, errors naming the file, provenance);
- :mod:`braggsynth.io.particles`: built and relaxed particles;
- :mod:`braggsynth.io.cxi`: CXI files (peaks, recordings, inpainted scans, reconstructions);
- :mod:`braggsynth.io.measured`: measured intensities, masks and objects (HDF5/CXI, NumPy, TIFF);
- :mod:`braggsynth.io.shards`: patch shards.

Every public name is also here (``from braggsynth import io; io.read_peak(...)``).
"""

from braggsynth.io.files import (  # noqa: F401
    PROVENANCE_PACKAGES, DataFileError, package_versions, provenance, atomic_path, atomic_h5, PRODUCERS, remake_hint, remove_partials, remove_stale_partials, open_h5, write_json_attr, read_json_attr, HDF5_SUFFIXES, check_volume,
)
from braggsynth.io.particles import (  # noqa: F401
    write_particle, read_particle, write_relaxed, read_relaxed,
)
from braggsynth.io.cxi import (  # noqa: F401
    JOULE_PER_KEV, CXI_VERSION, PIXEL_IS_MISSING, DETECTOR, NX_CLASSES, AXES, GEOMETRY_UNITS, SUFFIX_UNITS, COMPRESSED, pixel_mask, peak_geometry, read_geometry, write_peak, read_peak, write_cxi_intensity, write_detector_pattern, read_detector_pattern, write_inpainted, write_reconstruction,
)
from braggsynth.io.measured import (  # noqa: F401
    CXI_DATA_KEYS, CXI_MASK_KEYS, read_measured, read_raw, MASK_FILE_KEYS, read_mask, volume_mask, read_object,
)
from braggsynth.io.shards import (  # noqa: F401
    SHARD_ARRAYS, SHARD_ATTRIBUTES, ORIGINS, write_patch_shard, read_shard_info,
)

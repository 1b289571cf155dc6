"""All file input and output of braggsynth (HDF5 everywhere), one module per kind of file:

- :mod:`braggsynth.io.files`: what every file shares (atomic writes, errors naming the file, provenance);
- :mod:`braggsynth.io.particles`: built and relaxed particles;
- :mod:`braggsynth.io.cxi`: CXI files (peaks, recordings, inpainted scans, reconstructions);
- :mod:`braggsynth.io.measured`: measured intensities, masks and objects (HDF5/CXI, NumPy, TIFF);
- :mod:`braggsynth.io.shards`: patch shards.

Every public name is also here (``from braggsynth import io; io.read_peak(...)``).
"""

from braggsynth.io.cxi import (  # noqa: F401
    AXES,
    COMPRESSED,
    CXI_VERSION,
    DETECTOR,
    GEOMETRY_UNITS,
    JOULE_PER_KEV,
    NX_CLASSES,
    PIXEL_IS_MISSING,
    SUFFIX_UNITS,
    peak_geometry,
    pixel_mask,
    read_detector_pattern,
    read_geometry,
    read_peak,
    write_cxi_intensity,
    write_detector_pattern,
    write_inpainted,
    write_peak,
    write_reconstruction,
)
from braggsynth.io.files import (  # noqa: F401
    HDF5_SUFFIXES,
    PRODUCERS,
    PROVENANCE_PACKAGES,
    DataFileError,
    atomic_h5,
    atomic_path,
    check_volume,
    open_h5,
    package_versions,
    provenance,
    read_json_attr,
    remake_hint,
    remove_partials,
    remove_stale_partials,
    write_json_attr,
)
from braggsynth.io.measured import (  # noqa: F401
    CXI_DATA_KEYS,
    CXI_MASK_KEYS,
    MASK_FILE_KEYS,
    read_mask,
    read_measured,
    read_object,
    read_raw,
    volume_mask,
)
from braggsynth.io.particles import (  # noqa: F401
    read_particle,
    read_relaxed,
    write_particle,
    write_relaxed,
)
from braggsynth.io.shards import (  # noqa: F401
    ORIGINS,
    SHARD_ARRAYS,
    SHARD_ATTRIBUTES,
    read_shard_info,
    write_patch_shard,
)

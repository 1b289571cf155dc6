# braggsynth: synthetic BCDI training data for detector-gap inpainting.
# Table of contents only; the rules are in workflow/rules/, the science in src/braggsynth/.

from braggsynth.config import check_yaml


# A user's --configfile stands on its own: keys it leaves out take the schema's defaults, not config.yaml's.
if not workflow.overwrite_configfiles:
    check_yaml("config.yaml")

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/particles.smk"
include: "workflow/rules/scattering.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/realism.smk"
include: "workflow/rules/model.smk"


rule all:
    input:
        final_targets(),
    default_target: True

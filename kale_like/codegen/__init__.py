"""IR -> readable, standalone, deterministic KFP v2 DSL source. Pure: no I/O, no KFP import.

Modules: :mod:`.dsl` (the generated module: components, pipeline function, ``__main__``),
:mod:`.parameters` (how KFP carries parameters, pipeline arguments), :mod:`.names` (KFP
identifiers), :mod:`.literals` (safe Python literals), :mod:`.settings` (per-task settings),
:mod:`.workspace` (the workspace artifacts that carry files between steps).
"""

from .dsl import default_base_image, dsl_filename, generate_dsl, step_image
from .names import Names, allocate_names, pipeline_kfp_name
from .parameters import is_json_parameter, kfp_arguments

__all__ = [
    "Names",
    "allocate_names",
    "default_base_image",
    "dsl_filename",
    "generate_dsl",
    "is_json_parameter",
    "kfp_arguments",
    "pipeline_kfp_name",
    "step_image",
]

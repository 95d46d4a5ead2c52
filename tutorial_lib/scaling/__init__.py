"""Notebook 06_scaling_up: scaling up and shipping safely.

* :mod:`~tutorial_lib.scaling.precision`: what 16-bit floats do to gradients, with and without loss
  scaling (the precision panel).
* :mod:`~tutorial_lib.scaling.distributed`: the ``torchrun`` job, launched from a cell, and the
  processes × threads measurement.
* :mod:`~tutorial_lib.scaling.transfer`: reusing an encoder learnt on one set on another, without labels.
* :mod:`~tutorial_lib.scaling.onnx_export`: a fitted model in another runtime (ONNX, onnxruntime).
* :mod:`~tutorial_lib.scaling.encryption`: models encrypted at rest (AES-256-GCM).

The GPU options (mixed precision, ``torch.compile``) are flags of the one training loop,
:func:`tutorial_lib.train.fit` (``amp=``, ``compile=``).
"""

# distributed
from .distributed import compare_layouts, launch, torchrun_command

# encryption
from .encryption import (
    KeyFileError,
    KeyRequiredError,
    WrongKeyError,
    decrypt,
    encrypt,
    generate_key,
    read_key,
)

# ONNX
from .onnx_export import (
    Exportable,
    NearestCentreNet,
    OnnxModel,
    export_onnx,
    exportable,
    parity,
    time_inference,
)

# precision
from .precision import cast_report, gradient_values

# transfer
from .transfer import ENCODERS as TRANSFER_ENCODERS
from .transfer import resize_images, score_embeddings, transfer_experiment

__all__ = ["cast_report", "compare_layouts", "gradient_values", "launch", "torchrun_command"]
__all__ += ["KeyFileError", "KeyRequiredError", "WrongKeyError", "decrypt", "encrypt",  # encryption
            "generate_key", "read_key"]
__all__ += ["Exportable", "NearestCentreNet", "OnnxModel", "export_onnx", "exportable",  # ONNX
            "parity", "time_inference"]
__all__ += ["TRANSFER_ENCODERS", "resize_images", "score_embeddings", "transfer_experiment"]  # transfer

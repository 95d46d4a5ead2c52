"""Deep unsupervised learning for image recognition and segmentation.

The library behind the notebooks: notebook 00_overview introduces it, and each package names the
notebook that teaches it (``preprocess`` 01, ``features`` 02, ``cluster`` 03, ``segment`` 04).
``tutorial_lib.load_model(path)`` loads a model saved with ``model.save(path)`` (see
:mod:`tutorial_lib.io`, notebook 03_clustering_classification); it is imported on first use, so
``import tutorial_lib`` stays light (no torch).
"""
__version__ = "0.1.0"


def __getattr__(name: str):
    """``load_model``, imported from :mod:`tutorial_lib.io` on first use (it needs torch)."""
    if name == "load_model":
        from .io import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "load_model"]

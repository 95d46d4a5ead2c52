"""Deep unsupervised learning for image recognition and segmentation.

The library behind the notebooks: notebook 00_overview introduces it, and each package names the
notebook that teaches it (``preprocess`` 01, ``features`` 02, ``cluster`` 03, ``segment`` 04).
"""
__version__ = "0.1.0"

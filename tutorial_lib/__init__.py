"""Deep unsupervised learning for image recognition and segmentation."""
__version__ = "0.1.0"

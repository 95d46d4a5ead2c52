"""The evaluation layer: methods scored on named sets, comparisons, timing and tables.

What ``python -m tutorial_lib cluster|segment|bench`` and the notebooks call to measure a method. Methods
never import this package; it imports them.
"""

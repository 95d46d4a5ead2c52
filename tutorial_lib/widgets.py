"""Interactive panels for the notebooks.

The pattern: a ``*_panel(...)`` function builds ipywidgets controls and returns a container; the
work each control triggers is a plain library function (no widget in its signature), so tests
call it directly and can also set the controls' values and read what the panel computed.
"""

from __future__ import annotations

# --- preprocessing panels -----------------------------------------------------------------------

# --- feature learning and clustering panels ----------------------------------------------------

# --- segmentation panels ------------------------------------------------------------------------

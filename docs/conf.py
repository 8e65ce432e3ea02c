"""Sphinx configuration of the spectral_la documentation site (built by scripts/docs.sh, warnings as errors)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "spectral_la"
author = "spectral_la developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc Parameters sections say it, with the mathematics
exclude_patterns = ["_build", "generated/**/stability.csv"]
html_theme = "alabaster"
html_title = "spectral_la"
suppress_warnings = ["myst.xref_missing"]  # links between repository files that are not pages of the site

"""One module per figure; each has ``data()`` (what is plotted) and ``make(out_dir)`` (PNG + SVG)."""

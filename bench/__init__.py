"""storyloom's benchmarks: they drive the installed package through its public API, print ratios
measured side by side in one run and write JSON under ``bench/results/``. Run them from a source
checkout with ``python -m bench NAME`` (see :mod:`bench.__main__`)."""

"""The benchmark behind ``make bench`` / ``alliance-qa bench``: speed against the limit and at scale.

Run ``python -m benchmarks --help``.  Modules:

* :mod:`.synth`: a seeded generator of varied synthetic corpora shaped like the article;
* :mod:`.proxy`: cheaply made vectors with real structure, for index figures too large to embed;
* :mod:`.runner`: the measurements, ``bench/results.json`` and the printed table.

Nothing here is imported by the library itself.
"""

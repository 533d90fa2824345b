"""``python -m alliance_qa.bench``: run the benchmark (see :mod:`alliance_qa.bench.runner`)."""

from .runner import main

raise SystemExit(main())

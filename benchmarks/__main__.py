"""``python -m benchmarks``: run the benchmark (see :mod:`benchmarks.runner`)."""

from .runner import main

raise SystemExit(main())

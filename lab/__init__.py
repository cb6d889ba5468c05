"""labbook: implementations behind the book's chapters, and the machinery that runs them.

One subpackage per paper (``lab.inversion_bias``, ...), shared substrates beside them, and
the book's spine: :mod:`lab.claims` (claims and statuses), :mod:`lab.run` (a chapter's run
record), :mod:`lab.execute` and :mod:`lab.cli` (``lab run``), :mod:`lab.book` (``lab book``),
:mod:`lab.scorecard` and :mod:`lab.provenance`.
"""

__version__ = "0.1.0"

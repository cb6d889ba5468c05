"""``lab gpu``: the GPU work that is pending, and running it within a time budget.

GPU time comes rarely and in short windows, so results under ``results/`` go stale while the
code changes. This package answers two questions on any machine, and acts on a CUDA one:

- :mod:`lab.gpu.sources`: which files a chapter's full tier or a kernel's benchmark is made
  from (the chapter, the ``lab`` packages it imports, transitively, and ``kernels/``), and a
  hash of them (``code_hash``) that new records carry in their provenance;
- :mod:`lab.gpu.pending`: every chapter whose committed full-tier record is missing or was made
  from sources that changed since, every kernel whose benchmark record is older than its code,
  most stale first (``lab gpu --list``; the book's "GPU work" page shows the same list);
- :mod:`lab.gpu.runner`: ``lab gpu --budget SECONDS`` runs the kernel benchmarks, then the
  pending full tiers, each in its own time guard, writing each record as soon as it is done;
  a full tier whose expected time does not fit in what is left is skipped with the reason.
"""

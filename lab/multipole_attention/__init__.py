"""Multipole Attention (Hooper, Zhao et al., NeurIPS 2025), re-run in ``book/multipole_attention.md``.

* :mod:`~lab.multipole_attention.layout`: sink, clustered region in blocks of I, recent window.
* :mod:`~lab.multipole_attention.rope`: windowed RoPE for clustering and lookup.
* :mod:`~lab.multipole_attention.kmeans`: blocked k-means and the online update.
* :mod:`~lab.multipole_attention.lookup`: centroid scores, GQA sum, token budget, two levels.
* :mod:`~lab.multipole_attention.attention`: exact part, multipole terms, log-sum-exp merge.
* :mod:`~lab.multipole_attention.methods`: exact, oracle top-B, Quest-style pages, lookup only,
  Multipole, hierarchical; errors, attention-mass recall, bytes touched.
* :mod:`~lab.multipole_attention.cache`: a :class:`lab.llm.kvcache.Cache` that decodes with it
  (through :meth:`lab.llm.kvcache.Cache.attend`).
* :mod:`~lab.multipole_attention.synthetic`: clustered synthetic keys and aligned queries.
* :mod:`~lab.multipole_attention.experiments`, :mod:`~lab.multipole_attention.figures`,
  :mod:`~lab.multipole_attention.claims`, :mod:`~lab.multipole_attention.config`: the chapter.

Kernels: ``kernels/centroid_lookup.py``, ``kernels/sparse_decode.py`` (with the GPU benchmark),
``kernels/multipole_replacement.py``.
"""

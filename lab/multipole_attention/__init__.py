"""Multipole Attention (Hooper, Zhao et al., NeurIPS 2025), re-run in ``book/multipole_attention.md``.

* :mod:`~lab.multipole_attention.layout`: sink, clustered region in blocks of I, recent window.
* :mod:`~lab.multipole_attention.rope`: windowed RoPE for clustering and lookup.
* :mod:`~lab.multipole_attention.kmeans`: blocked k-means and the online update.
* :mod:`~lab.multipole_attention.lookup`: centroid scores, GQA sum, token budget, two levels.
* :mod:`~lab.multipole_attention.attention`: exact part, multipole terms, log-sum-exp merge.
* :mod:`~lab.multipole_attention.methods`: exact, oracle top-B, Quest-style pages, lookup only,
  Multipole, hierarchical; errors, attention-mass recall, bytes touched.
* :mod:`~lab.multipole_attention.cache`: a :class:`lab.llm.kvcache.Cache` that decodes with it.
"""

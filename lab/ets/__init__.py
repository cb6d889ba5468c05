"""ETS: efficient tree search for inference-time scaling (``book/ets.md``).

* :mod:`lab.ets.tree`: the search tree and its exact KV accounting;
* :mod:`lab.ets.allocation`: the REBASE allocation of children to candidates;
* :mod:`lab.ets.ilp`: the ETS integer linear program (SciPy ``milp``) and its brute force;
* :mod:`lab.ets.clusters`: semantic clusters of the newest step (MiniLM or structural);
* :mod:`lab.ets.env`, :mod:`lab.ets.policy`, :mod:`lab.ets.prm`: the synthetic arithmetic task,
  the step proposer (a small ``lab.llm`` decoder trained on solution traces, or a stochastic
  generator) and the process reward model with a noise knob;
* :mod:`lab.ets.search`: REBASE, beam search, DVTS and ETS over one problem.
"""

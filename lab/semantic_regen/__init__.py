"""SemanticRegen in miniature (``book/semantic_regen.md``): scenes with known labels, the
reference code's mask logic, background regeneration with paste-back or pass-through, the
baselines, and the experiments. The watermark schemes and metrics live in :mod:`lab.watermark`.
"""

"""The claims of ``book/semantic_regen.md``, one function per row of the dossier's table,
decided by the rule book (:mod:`lab.claims.rules`) from the dicts of
:mod:`lab.semantic_regen.experiments`. Thresholds are the dossier's, fixed before any run."""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown as summarize, rules
from lab.semantic_regen.experiments import SEMREGEN

SRC = "reference code (KrtiT/semanticRegen), notebooks 01/02"
GPU = ("needs Stable Diffusion 2.1 / SD-2-inpainting, BLIP-2, LangSAM and MiniChat, the 1000-prompt "
       "dataset and a GPU; none is available offline, so the paper's tables are cited, not reproduced")


def mssim_definition(claims: Claims, gap: float, reference: str) -> None:
    claims.judge("mssim-definition", "own mSSIM equals the torchmetrics-style reference",
                 paper_value="—", paper_source="reference code, lines ~905–965", criterion="< 1e-6",
                 verdict=rules.tolerance([gap], tol=1e-6, what=f"|own − {reference}| mSSIM"),
                 ours=gap, ours_text="largest absolute difference", over="cases")


def treering_null_uniform(claims: Claims, tr: dict) -> None:
    claims.judge("treering-null-uniform", "unwatermarked p-values (the reference's formula) are uniform",
                 paper_value="p ~ U(0,1) (derived)", paper_source="dossier (derived from optim_utils.get_p_value)",
                 criterion="KS p > 0.01",
                 verdict=rules.bounds([tr["ks_null"]], lower=0.01, strict=True, what="KS p of the null p-values"),
                 ours=tr["ks_null"], ours_text=f"KS p over {tr['p_null'].size} seeds",
                 note=f"with σ known and each conjugate pair once, KS p = {tr['ks_null_exact']:.3g}")
    claims.judge("treering-null-uniform-exact", "the exact-null variant of the p-value is uniform (ours)",
                 paper_value="—", paper_source="this chapter", criterion="KS p > 0.01",
                 verdict=rules.bounds([tr["ks_null_exact"]], lower=0.01, strict=True, what="KS p of the exact-null p-values"),
                 ours=tr["ks_null_exact"], ours_text=f"KS p over {tr['p_null'].size} seeds")
    claims.judge("ddim-roundtrip-exact", "analytic DDIM inversion recovers x_T (ours)",
                 paper_value="—", paper_source="this chapter", criterion="max error < 1e-9",
                 verdict=rules.tolerance(tr["roundtrip"], tol=1e-9, what="max |x_T − inv(sample(x_T))|"),
                 ours=float(tr["roundtrip"].max()), ours_text="largest error over seeds")


def dwtdct_bit_exact(claims: Claims, wm: dict) -> None:
    st, kw = "own dwtDct equals `imwatermark`", dict(paper_value="—", paper_source="invisible-watermark 0.2.0",
                                                     criterion="identical bits")
    if not wm["reference"]:
        claims.not_checkable("dwtdct-bit-exact", st, **kw, reason="invisible-watermark is not installed here")
        return
    mism = np.concatenate([wm["pixel_mismatch"], wm["bit_mismatch"]])
    claims.judge("dwtdct-bit-exact", st, **kw,
                 verdict=rules.tolerance(mism, tol=0, what="differing pixels and decoded bits", kind="exact"),
                 ours=int(mism.sum()), over="images",
                 ours_text=f"differences over {wm['pixel_mismatch'].size} encodings and {wm['bit_mismatch'].size} decodings")


def treering_survives(claims: Claims, tr: dict) -> None:
    means = [tr["p"][a].mean() for a in ("blur", "regen")]
    claims.judge("treering-survives-blur-regen", "blur and regeneration keep mean p < 0.05",
                 paper_value="3.1e-5 (blur) … 1.3e-3 (DiffWM)", paper_source=SRC, criterion="holds",
                 verdict=rules.bounds(means, upper=0.05, strict=True, what="mean p after blur, regeneration", kind="magnitude"),
                 ours=means, ours_text="mean p: blur, regeneration (fixture)",
                 note=f"4× regeneration: mean p {tr['p']['rinse4x'].mean():.3g} (paper 0.016)")


def treering_broken(claims: Claims, tr: dict) -> None:
    v = [tr["p"][a].mean() for a in ("bg-gauss-paste", "bg-gauss-pass")]
    claims.judge("treering-broken-by-bg-regen",
                 "repainting about 60% of the background raises mean p above 0.05",
                 paper_value="0.0998", paper_source=SRC, criterion="holds",
                 verdict=rules.bounds(v, lower=0.05, strict=True, what="mean p after exact background regeneration", kind="magnitude"),
                 ours=v, ours_text=f"paste-back, pass-through; repainted {tr['repaint_fraction'].mean():.2f}",
                 note=f"a classical (Telea) fill leaves mean p {tr['p']['bg-telea-pass'].mean():.2g}")


def dwtdct_fragile(claims: Claims, wm: dict) -> None:
    acc = wm["acc"]["blur"]
    claims.judge("dwtdct-fragile", "blur r=8 drives bit accuracy to about 0.5",
                 paper_value="0.503", paper_source=SRC, criterion="< 0.6",
                 verdict=rules.bounds([acc.mean()], upper=0.6, strict=True, what="mean bit accuracy after blur", kind="magnitude"),
                 ours=acc, ours_text="mean over images", over="images")


def dwtdct_needs_passthrough(claims: Claims, wm: dict) -> None:
    paste, pas = wm["acc"]["bg-photo-paste"].mean(), wm["acc"]["bg-photo-pass"].mean()
    v = rules.all_of(rules.bounds([paste], lower=0.75, strict=True, what="paste-back mean bit accuracy", kind="magnitude"),
                     rules.bounds([pas], upper=0.75, what="pass-through mean bit accuracy", kind="magnitude"))
    claims.judge("dwtdct-needs-passthrough", "paste-back keeps bits (above 0.75); pass-through drops them to about 0.5",
                 paper_value="prediction from the code, not the paper", paper_source="dossier", criterion="holds",
                 verdict=v, ours=[paste, pas], ours_text="mean bit accuracy: paste-back, pass-through",
                 note=f"unattacked: {wm['acc']['none'].mean():.3f}")


def mssim_vs_full_ssim(claims: Claims, wm: dict) -> None:
    parts = []
    for b in ("blur", "compress"):
        parts.append(rules.ordering(wm["mssim"][SEMREGEN], wm["mssim"][b], better="higher",
                                    names=("SemanticRegen-lite mSSIM", f"{b} mSSIM"), over="images"))
        parts.append(rules.ordering(wm["ssim"][SEMREGEN], wm["ssim"][b], better="lower",
                                    names=("SemanticRegen-lite full SSIM", f"{b} full SSIM"), over="images"))
    claims.judge("mssim-vs-full-ssim", "SemanticRegen-lite has the highest mSSIM and the lowest full SSIM",
                 paper_value="0.94 vs 0.41–0.46", paper_source=SRC, criterion="ordering holds",
                 verdict=rules.all_of(*parts, kind="ordering"),
                 ours=[wm["mssim"][SEMREGEN].mean(), wm["ssim"][SEMREGEN].mean()],
                 ours_text="mean mSSIM, full SSIM (vs blur and JPEG)", over="images")


LEARNED_ST = "the StegaStamp stand-in drops to bit accuracy ≤ 0.75 under SemanticRegen-lite"


def learned_wm_below_075(claims: Claims, ss: dict | None) -> None:
    kw = dict(paper_value="0.701 (StegaStamp)", paper_source=SRC, criterion="holds")
    if ss is None:
        claims.not_checkable("learned-wm-below-075", LEARNED_ST, **kw,
                             reason="the stand-in is off in this tier (ss_side = 0); the book and full tiers train it")
        return
    acc = ss["acc"][SEMREGEN]
    present = rules.bounds([ss["acc"]["none"].mean()], lower=0.75, strict=True,
                           what="unattacked mean bit accuracy (the watermark is there)", kind="magnitude")
    removed = rules.bounds([acc.mean()], upper=0.75, what="mean stand-in bit accuracy after SemanticRegen-lite",
                           kind="magnitude")
    claims.judge("learned-wm-below-075", LEARNED_ST, **kw, verdict=rules.all_of(present, removed, kind="magnitude"),
                 ours=acc, ours_text=f"mean over scenes ({ss['side']}², {ss['bits']} bits)", over="scenes",
                 note=(f"unattacked {ss['acc']['none'].mean():.3f}, blur {ss['acc']['blur'].mean():.3f}, "
                       f"JPEG {ss['acc']['compress'].mean():.3f}, paste-back {ss['acc']['bg-photo-paste'].mean():.3f}"))


def ddpm_rows(claims: Claims, dm: dict | None) -> None:
    """TreeRing-mini with the trained DDPM (ours; the dossier's rows are judged on the fixture)."""
    rows = [("treering-ddpm-detects", "with the trained DDPM, DDIM inversion recovers the ring: unattacked mean p < 0.05"),
            ("treering-ddpm-survives-blur-regen", "with the trained DDPM, blur and regeneration keep mean p < 0.05"),
            ("treering-ddpm-broken-by-repaint", "with the trained DDPM, RePaint of the background lifts mean p above 0.05 "
                                                "while the unattacked image is detected")]
    kw = dict(paper_value="3.1e-5 … 0.016 (baselines); 0.0998 (SemanticRegen)", paper_source=SRC, criterion="holds")
    if dm is None:
        for rid, st in rows:
            claims.not_checkable(rid, st, **kw, reason="the trained DDPM is off in this tier (dm_side = 0); book and full run it")
        return
    mean = {a: float(v.mean()) for a, v in dm["p"].items()}
    detect = rules.bounds([mean["none"]], upper=0.05, strict=True, what="unattacked mean p", kind="magnitude")
    claims.judge(rows[0][0], rows[0][1], paper_value="p ≪ 0.05 (TreeRing on SD)", paper_source="tree-ring-watermark",
                 criterion="holds", verdict=detect, ours=dm["p"]["none"], ours_text=f"mean over {dm['p']['none'].size} seeds",
                 over="seeds", note=(f"inversion round trip RMS {dm['roundtrip_rms'].mean():.3g}; relative error of the "
                                     f"key coefficients {dm['key_error'].mean():.3g}; null KS p {dm['ks_null']:.3g}"))
    claims.judge(rows[1][0], rows[1][1], **kw,
                 verdict=rules.bounds([mean["blur"], mean["regen"]], upper=0.05, strict=True,
                                      what="mean p after blur, regeneration", kind="magnitude"),
                 ours=[mean["blur"], mean["regen"]], ours_text="mean p: blur, regeneration (trained DDPM)",
                 note=f"4× regeneration {mean['rinse4x']:.3g}; JPEG {mean['compress']:.3g}")
    claims.judge(rows[2][0], rows[2][1], **kw,
                 verdict=rules.all_of(detect, rules.bounds([mean["bg-repaint-paste"], mean["bg-repaint-pass"]], lower=0.05,
                                                           strict=True, what="mean p after RePaint", kind="magnitude"),
                                      kind="magnitude"),
                 ours=[mean["bg-repaint-paste"], mean["bg-repaint-pass"]], ours_text="mean p: RePaint paste-back, pass-through",
                 note=f"repainted {dm['repaint_fraction'].mean():.2f}; Telea fill, pass-through: {mean['bg-telea-pass']:.3g}")


def not_checkable_rows(claims: Claims) -> None:
    claims.not_checkable("paper-1000-prompts", "the paper's tables (1000 prompts, four watermarks)",
                         paper_value="TreeRing mean p 0.0998; mSSIM 0.94 ± 0.01", paper_source=SRC,
                         criterion="citation only", reason=GPU)


def check_all(claims: Claims, *, tr: dict, wm: dict, gap: float, reference: str,
              ss: dict | None = None, dm: dict | None = None) -> None:
    mssim_definition(claims, gap, reference)
    treering_null_uniform(claims, tr)
    dwtdct_bit_exact(claims, wm)
    treering_survives(claims, tr)
    treering_broken(claims, tr)
    dwtdct_fragile(claims, wm)
    dwtdct_needs_passthrough(claims, wm)
    mssim_vs_full_ssim(claims, wm)
    learned_wm_below_075(claims, ss)
    ddpm_rows(claims, dm)
    not_checkable_rows(claims)


WHY_SHORT = {
    "treering-null-uniform": (
        "The reference's p-value estimates σ from the same coefficients it tests and counts "
        "conjugate-symmetric FFT coefficients twice, so under the null its p-values bunch in the "
        "middle (a conservative test) instead of being uniform; the exact-null variant is uniform."
    ),
    "dwtdct-needs-passthrough": (
        "dwtDct tiles each bit over every 4×4 LL block and decodes by the mean vote; with about two "
        "thirds of the image repainted the background's votes outweigh the intact foreground's, so "
        "paste-back alone already drops bit accuracy below 0.75 at this repaint fraction."
    ),
    "mssim-vs-full-ssim": (
        "mSSIM paints the repainted region white, so paste-back variants and mild baselines all score "
        "near 1; which attack ranks highest depends on the foreground's round trip, not on the attack."
    ),
    "learned-wm-below-075": (
        "The stand-in was trained against blur, noise and JPEG-like quantisation, so the pass-through "
        "round trip barely touches it, and its decoder reads every bit from the whole image: the intact "
        "foreground still carries enough of the residual when only the background is replaced."
    ),
    "treering-ddpm-detects": (
        "Plain DDIM inversion is exact only for a linear noise predictor (the fixture). With a trained network "
        "its error is largest at the highest noise levels, where x̂_0 is the noise estimate divided by α_t; "
        "when that error in the key's low-frequency coefficients is as large as the key, unattacked images are "
        "not detected and the attack rows say little."
    ),
    "treering-ddpm-survives-blur-regen": (
        "With a trained network the inversion is approximate, so the inverted key is already noisy before any "
        "attack; a regeneration adds its own change, and with the small key of the book tier's 32² model (radius "
        "5) many seeds end above 0.05. The fixture's exact inversion and the full tier's larger key "
        "(radius 10 at 64², four times as many coefficients) leave far more margin."
    ),
    "treering-ddpm-broken-by-repaint": (
        "The detector's evidence grows with the number of key coefficients. RePaint keeps about a third of the "
        "pixels, and their low-frequency content still carries part of the ring; with the full tier's larger key "
        "(radius 10 at 64²) that part can be enough to keep the mean p below 0.05, while the book tier's smaller "
        "key (radius 5 at 32²) is erased. If the unattacked images are not detected either, see "
        "treering-ddpm-detects."
    ),
    "paper-1000-prompts": "The paper's models and prompts are not available offline.",
}


def findings_markdown(claims: Claims) -> str:
    """The verdicts and our reading of each shortfall (:func:`lab.claims.findings_markdown`)."""
    return summarize(claims, WHY_SHORT.get)

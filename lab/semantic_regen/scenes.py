"""Scenes with exact foreground masks, and the label-grounded segmentation that stands in for
BLIP-2 + LangSAM (``book/semantic_regen.md``).

A scene is a ``skimage.draw.random_shapes`` drawing (shapes on white, so the foreground mask
is exact: pixels that are not 255) composited onto a crop of a bundled photograph. The shape
labels ("circle", "rectangle", ...) replace the VLM's answers: answer 1 ("the prominent
object") is the label of the largest shape, answer 2 ("the prominent subjects") is every label.
"""
from __future__ import annotations

from dataclasses import dataclass

import warnings

import numpy as np
from skimage import data, draw, segmentation, transform

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower", "brick", "grass", "gravel")


def photo(name: str) -> np.ndarray:
    """A bundled photograph as float RGB in [0, 1] (scikit-image or scikit-learn, offline)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        img = load_sample_image(f"{name}.jpg")
    else:
        img = getattr(data, name)()
    img = np.asarray(img, dtype=np.float64) / 255.0
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def crop(img: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``side × side`` crop (the photo is first scaled so its short side is ≥ side)."""
    h, w = img.shape[:2]
    if min(h, w) < side:
        s = side / min(h, w)
        img = transform.resize(img, (int(np.ceil(h * s)), int(np.ceil(w * s))), anti_aliasing=True)
        h, w = img.shape[:2]
    i, j = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    return img[i:i + side, j:j + side].copy()


@dataclass
class Scene:
    image: np.ndarray  #: H×W×3 float in [0, 1]
    foreground: np.ndarray  #: H×W bool, exact
    labels: list  #: one shape label per region
    regions: np.ndarray  #: H×W int, region index + 1 (0: background)
    answers: list  #: the two "VLM answers": lists of labels


def make_scene(side: int, rng: np.random.Generator, background: np.ndarray | None = None,
               min_shapes: int = 3, max_shapes: int = 6) -> Scene:
    """Random shapes (sizes ``side/3 … 0.6·side``) over ``background`` (white when ``None``)."""
    seed = int(rng.integers(2**31))
    with warnings.catch_warnings():  # "could not fit any shapes" for some draws: fewer shapes, fine
        warnings.simplefilter("ignore", UserWarning)
        fg_img, items = draw.random_shapes((side, side), max_shapes=max_shapes, min_shapes=min_shapes,
                                           min_size=side // 3, max_size=int(0.6 * side), channel_axis=-1,
                                           intensity_range=((0, 220),), allow_overlap=False, rng=seed)
    fg = np.any(fg_img != 255, axis=2)
    regions = np.zeros((side, side), dtype=np.int64)
    labels = []
    for k, (label, ((r0, r1), (c0, c1))) in enumerate(items):
        box = np.zeros_like(fg)
        box[r0:r1, c0:c1] = True
        regions[box & fg & (regions == 0)] = k + 1
        labels.append(label)
    bg = np.ones((side, side, 3)) if background is None else background
    img = np.where(fg[..., None], fg_img / 255.0, bg)
    sizes = [int((regions == k + 1).sum()) for k in range(len(labels))]
    first = labels[int(np.argmax(sizes))] if labels else None
    answers = [[first] if first else [], sorted(set(labels))]
    return Scene(img, fg, labels, regions, answers)


def felzenszwalb(scene: Scene, scale: float = 200.0) -> np.ndarray:
    """Felzenszwalb–Huttenlocher graph segmentation of the scene (segment ids, H×W)."""
    return segmentation.felzenszwalb(scene.image, scale=scale, sigma=0.8, min_size=scene.image.shape[0] // 4)


def segment_candidates(scene: Scene, label: str, seg: np.ndarray | None = None) -> list[np.ndarray]:
    """Candidate masks for ``label``: felzenszwalb segments lying mostly (> 50 %) on a shape with
    that label, largest first (the grounding is by the known labels; the outlines are the
    segmentation's)."""
    seg = felzenszwalb(scene) if seg is None else seg
    ok = np.zeros(len(scene.labels) + 1, bool)
    ok[1:] = [lab == label for lab in scene.labels]
    cands = []
    for s in np.unique(seg):
        m = seg == s
        on_label = ok[scene.regions[m]].mean()
        if on_label > 0.5:
            cands.append(m)
    return sorted(cands, key=lambda m: -int(m.sum()))


def combine(masks: list[np.ndarray], threshold: float = 0.5) -> np.ndarray | None:
    """Max-combine masks in order until coverage exceeds ``threshold`` (``None`` if no mask)."""
    if not masks:
        return None
    out = np.zeros_like(masks[0], dtype=bool)
    for m in masks:
        out |= m
        if out.mean() > threshold:
            break
    return out


def repaint_mask(answer_masks: list[list[np.ndarray]], shape: tuple, threshold: float = 0.50,
                 flip: float = 0.80) -> np.ndarray:
    """The reference's mask logic: per answer :func:`combine`; keep the larger coverage; if that
    coverage is below ``flip`` repaint its complement (the background), else repaint the object.
    No detection at all gives an all-zero mask (nothing repainted), as in the reference.

    Returns the repaint mask ``m`` (True = regenerated).
    """
    combos = [c for c in (combine(ms, threshold) for ms in answer_masks) if c is not None]
    for c in combos:
        if c.shape != tuple(shape):
            raise ValueError(f"a candidate mask has shape {c.shape}, the image {tuple(shape)}")
    if not combos:
        return np.zeros(shape, dtype=bool)
    best = max(combos, key=lambda c: c.mean())
    return ~best if best.mean() < flip else best.copy()


def scene_repaint_mask(scene: Scene, source: str = "segmentation") -> np.ndarray:
    """The repaint mask of a scene from ground truth or from :func:`segment_candidates`."""
    if source == "truth":
        per = [[(scene.regions > 0) & np.isin(scene.regions, [k + 1 for k, l in enumerate(scene.labels) if l in a])]
               for a in scene.answers]
    elif source == "segmentation":
        seg = felzenszwalb(scene)
        per = [[m for lab in a for m in segment_candidates(scene, lab, seg)] for a in scene.answers]
        per = [sorted(p, key=lambda m: -int(m.sum())) for p in per]
    else:
        raise ValueError(f"mask source must be 'truth' or 'segmentation', got {source!r}")
    return repaint_mask(per, scene.foreground.shape)

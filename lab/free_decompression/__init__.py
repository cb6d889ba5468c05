"""Free decompression: the spectrum of a matrix too large to form, from small submatrices.

Library behind ``book/free_decompression.md`` (Ameli, van der Heide, Hodgkinson & Mahoney,
"Spectral Estimation with Free Decompression", NeurIPS 2025).

Modules
-------
jacobi       Jacobi weights: polynomials, Gauss nodes, the weight's Cauchy transform
model        a density on an interval and its Stieltjes transform on both sheets
estimate     kernel density + Jacobi projection + damping of a submatrix's eigenvalues
glue         Padé glue: continuing the Stieltjes transform below the support
decompress   characteristics, Newton solve, decompressed density, support edges
api          decompress_spectrum: one call from a submatrix to the spectrum at any size
laws         MP, semicircle, Kesten-McKay, Wachter and their exact decompressions
matrices     samplers, Gaussian-kernel matrices, torch eigensolver (GPU when present)
metrics      TV, JS, KS distances; log-determinant and moments from a density
peer         the authors' freealg behind a scoped numpy.trapz shim
config       smoke / book / full presets
experiments  what the chapter runs
figures      the chapter's plots
claims       the chapter's claims
"""
from lab.free_decompression.api import decompress_spectrum  # noqa: F401

"""Measuring colorizers with the shared protocol: per-image and pooled metrics (``metrics``: PSNR, SSIM,
colourfulness, AuC, a*/b* correlations), whole-set evaluation through the pipeline users call (``evaluate``),
and the semantic judge (``semantic_judge``: does an ImageNet classifier recognise the colorized photo)."""

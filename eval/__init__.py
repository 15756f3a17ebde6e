"""dicodec.eval: rate-distortion evaluation of dicodec against conventional codecs.

``dicodec eval`` (:mod:`dicodec.eval.cli`) and :func:`dicodec.eval.runner.evaluate` run every codec
over a quality sweep on images and videos and write JSON, CSV, RD plots and a markdown report with
Bjontegaard tables. Modules:

* :mod:`~dicodec.eval.runner` (image loop, orchestration), :mod:`~dicodec.eval.video` (video loop)
* :mod:`~dicodec.eval.image_codecs` (dicodec, JPEG, WebP, AVIF, JPEG XL, HEVC intra adapters)
* :mod:`~dicodec.eval.metrics` (registry, PSNR, MS-SSIM, piq metrics, texture ratios),
  :mod:`~dicodec.eval.niqe`, :mod:`~dicodec.eval.learned` (LPIPS, DISTS, Inception),
  :mod:`~dicodec.eval.fid` (patch FID/KID), :mod:`~dicodec.eval.weights` (weight lookup),
  :mod:`~dicodec.eval.weights_fetch` and :mod:`~dicodec.eval.weights_cli` (``dicodec eval-weights``)
* :mod:`~dicodec.eval.bd` (BD-rate, BD-metric), :mod:`~dicodec.eval.aggregate`, :mod:`~dicodec.eval.report`

Nothing is imported here, so ``import dicodec.eval`` stays cheap; see ``docs/eval.md``.
"""

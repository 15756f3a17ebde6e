"""dicodec.codec.video: clips coded as latents, intra frames as images, inter frames against the previous
decoded latent (:mod:`~dicodec.codec.video.contextual`); GOPs and streaming in
:mod:`~dicodec.codec.video.clip`, inter models' files and names in :mod:`~dicodec.codec.video.models`,
the per-frame generative baseline (the image DiT decoder on every frame) in
:mod:`~dicodec.codec.video.framewise`. The container is :mod:`dicodec.bitstream.video`."""

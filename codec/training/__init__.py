"""Everything only training needs; the shipped codec (``dicodec.codec`` outside this package) never
imports it (``tests/test_import_contract.py``).

Image codec: ``train`` (the loop, ``python -m dicodec.codec.training.train``, also ``dicodec train``),
``data`` (crops and augmentations), ``warm_start`` (start from released weights).
DiT decoder: ``train_dit`` (the loop and its commands), ``dit_config`` (config and presets),
``dit_objectives`` (the stages' losses, assembled), ``dit_losses`` and ``discriminator`` (their terms),
``flow_matching`` (the prior and the multi-step teacher), ``codec_latents`` (the frozen codec and its
latents), ``dit_evaluation`` (prior samples, decoder comparisons).
Video: ``video_train`` (the contextual inter model's loop), ``video_data`` (clips rendered from photos
by camera motion).
Shared: ``loop`` (EMA, schedule, DDP, checkpoints), ``options`` (configs as command lines),
``archives`` (photos inside application archives, for data preparation).
"""

"""Typed, frozen configurations of codec presets (named like DiT's ``DiT_XL_2``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CodecConfig:
    """Architecture of a 32x hyperprior image codec.

    The quality range is covered by ``levels`` learned gain vectors (Cui et al., "Asymmetric Gained Deep
    Image Compression With Continuous Rate Adaptation", CVPR 2021), interpolated geometrically between
    neighbours, each trained at the rate-distortion trade-off ``lambda`` of its level.
    """

    channels: int = 160  # N: width of the transforms; 160 keeps the shipped fp16 file small
    latent_channels: int = 320  # M: channels of the 32x latent, as in ELIC/DiT-IC's auxiliary codec
    hyper_channels: int = 128  # channels of z (128x downscaled); z costs a few % of the bits
    num_slices: int = 5  # channel-context slices of 64 channels (Minnen & Singh 2020)
    slice_hidden: int = 128  # width of the exact slice networks
    levels: int = 8  # gain vectors spanning quality 0..100
    lambda_min: float = 0.0008  # rate-distortion trade-off at quality 0 (distortion in 255^2 MSE units)
    lambda_max: float = 0.12  # ... and at quality 100
    refine_blocks: int = 0  # ConvNeXt blocks added at the 1/4, 1/8 and 1/16 stages of both transforms
    # DC-AE residual autoencoding (Chen et al., ICLR 2025): zero-gated space-to-channel / channel-to-space
    # shortcuts around every stride-2 stage, against the ~29 dB ceiling of the plain 32x transforms
    residual_shortcuts: bool = False
    coarse_blocks: int = 0  # more ConvNeXt blocks at 1/16 and on the 1/32 latent of both transforms
    # Detail layer (codec/detail_layer.py): D channels at 1/16, read at 1/8 and added back at 1/8, packed
    # after the base latent as 4D channels at 1/32, with their own hyperprior and slices; 0: none.
    detail_channels: int = 0
    detail_hyper_channels: int = 64
    detail_slices: int = 6
    detail_slice_hidden: int = 96

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def coded_channels(self) -> int:
        """Channels of the latent that is coded: the base latent and the detail layer packed 2x2 onto the
        1/32 grid (``detail_layer.PACK``)."""
        return self.latent_channels + 4 * self.detail_channels

    @property
    def strings_per_tile(self) -> int:
        """Entropy-coded strings after the hyper-latent's in a tile: the base slices, then (detail layer)
        its hyper-latent and slices. The bitstream header's ``num_slices`` field holds this number."""
        return self.num_slices + (1 + self.detail_slices if self.detail_channels else 0)


PRESETS: dict[str, CodecConfig] = {
    "hp32": CodecConfig(),
    # hp32-v2: same networks, lambda range moved down so quality 0 reaches ~0.05 bpp on photos.
    "hp32b": CodecConfig(lambda_min=3e-5, lambda_max=0.06),
    # hp32-v4: hp32b's networks and lambda range plus two refinement blocks per stage in each transform
    # (+1.3M parameters, 2.6 MB); the blocks start as the identity, so hp32-v3 warm-starts it exactly.
    "hp32d": CodecConfig(lambda_min=3e-5, lambda_max=0.06, refine_blocks=2),
    # hp32d's networks with two more gain levels above quality 100 of hp32d, on the same geometric lambda
    # ladder (levels 0-7 keep their lambdas): quality 100 at ~8.8x the old lambda_max, so the transforms
    # are trained for the >= 1 bpp, >= 36 dB end that hp32d never asked of them (docs/training.md).
    "hp32d10": CodecConfig(lambda_min=3e-5, lambda_max=3e-5 * 2000 ** (9 / 7), levels=10, refine_blocks=2),
    # hp32d10 with DC-AE's residual autoencoding: parameter-free shortcuts around the ten stride-2 stages
    # with zero-initialised per-channel gates (+1,603 parameters), so hp32-v7 warm-starts it exactly.
    "hp32r": CodecConfig(lambda_min=3e-5, lambda_max=3e-5 * 2000 ** (9 / 7), levels=10, refine_blocks=2,
                         residual_shortcuts=True),
    # hp32r plus two zero-initialised ConvNeXt blocks more at 1/16 and two on the 1/32 latent, in both
    # transforms (+2.15M parameters, 4.3 MB): capacity where the arithmetic per parameter is lowest.
    "hp32rc": CodecConfig(lambda_min=3e-5, lambda_max=3e-5 * 2000 ** (9 / 7), levels=10, refine_blocks=2,
                          residual_shortcuts=True, coarse_blocks=2),
    # hp32d10 with twice the latent channels (640 in 10 slices of 64: 0.63 values per pixel instead of
    # 0.31), the capacity a 32x latent lacks for >= 36 dB; from hp32-v7 it starts exactly as hp32d10
    # (zero-initialised widening, codec/training/warm_start.py). +7.5M parameters, mostly 5 new slices.
    "hp32w": CodecConfig(lambda_min=3e-5, lambda_max=3e-5 * 2000 ** (9 / 7), levels=10, refine_blocks=2,
                         latent_channels=640, num_slices=10),
    # hp32d10 with a 192-channel detail layer at 1/16 (768 more values per 32x32 block: 1,088 in all, the
    # ~1,000 a block needs for 36 dB, scripts/linear_ceiling.py); the base latent is hp32d10's, so the
    # DiT decoder's input keeps its shape, and hp32-v7 warm-starts it with the same pixels at step 0.
    "hp32x": CodecConfig(lambda_min=3e-5, lambda_max=3e-5 * 2000 ** (9 / 7), levels=10, refine_blocks=2,
                         detail_channels=192),
    # A few-kilobyte model for tests and CPU smoke runs: same code paths, tiny widths.
    "tiny": CodecConfig(channels=16, latent_channels=32, hyper_channels=16, num_slices=2, slice_hidden=16,
                        levels=3),
    # tiny with a detail layer, for the tests of codec/detail_layer.py
    "tiny-detail": CodecConfig(channels=16, latent_channels=32, hyper_channels=16, num_slices=2,
                               slice_hidden=16, levels=3, detail_channels=8, detail_hyper_channels=8,
                               detail_slices=2, detail_slice_hidden=16),
}  # fmt: skip

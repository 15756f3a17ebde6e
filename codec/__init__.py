"""dicodec.codec"""

from dicodec.codec import compressai_lazy

compressai_lazy.install()  # before any compressai import: skips its package __init__ (seconds per call)

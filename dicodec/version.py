"""The package version, in a module that imports nothing.

``dicodec.__version__`` is read by code deep in the codec (it is written into weights files and sent
as the download's User-Agent); importing it from ``dicodec/__init__`` would make those modules import
the public API, which imports them back, a cycle the import contract forbids.
"""

__version__ = "0.9.0"

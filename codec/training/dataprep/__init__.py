"""Training data from packaged images: the pack, the held-out eval sets and their manifest.

Every image dicodec trains or evaluates on comes from a package, because the build machines reach only
package registries (docs/data.md):

* training wallpapers from Debian packages: ``apt-get download`` + ``dpkg -x``, nothing is installed;
* the low-resolution evaluation set from the scikit-image and scikit-learn wheels;
* four large wallpaper photos, held out as the high-resolution evaluation set;
* optionally more camera photos from other packages (``--extra-packages photos,archived-photos``), for
  training only; without them the output is the documented default pack, byte for byte.

One module per step, in the order :func:`.prepare.prepare` runs them:

==================  ======================================================================
``packages``        which packages; download and extract them
``licenses``        copyright files -> the license of each image; which licenses are accepted
``scan``            archives unpacked, raster files found, sizes of one wallpaper grouped, ids
``classify``        ``photo`` / ``graphics`` from measured features, plus checked overrides
``dedupe``          identical files and near-identical thumbnails
``split``           the held-out ``eval_hr`` photos; what extra packages may add
``pack``            the training pack: JPEG q95 4:4:4 under a size budget
``evalsets``        ``eval_hr/`` and ``eval/`` as PNG
``manifest``        one record per image, the run's parameters, the schema check
``contact_sheet``   sheets to check kinds and duplicates by eye
==================  ======================================================================

``mix_pack`` and ``selection_set`` build the folders training runs carry from that output. The command
line (``dicodec data ...``) is :mod:`.cli`. This is training-side code: the shipped codec never imports
it.
"""

from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # trusted package files; the largest wallpaper is 5640x3172

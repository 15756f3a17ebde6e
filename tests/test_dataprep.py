"""The steps of ``dicodec data prepare`` (dicodec.codec.training.dataprep), on small synthetic images.

No network and no Debian tools: each step is a function of its inputs. The whole command runs in
``tests/test_data_cli.py``.
"""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from dicodec.codec.training.dataprep import (
    classify,
    contact_sheet,
    dedupe,
    licenses,
    manifest,
    mix_pack,
    pack,
    packages,
    pixels,
    scan,
    selection_set,
    split,
)
from dicodec.codec.training.dataprep.cli import prepare_command
from dicodec.codec.training.dataprep.errors import DataError


def smooth_image(seed: int, size=(320, 200)) -> Image.Image:
    """Blurry random blobs: structure that survives a 16x16 thumbnail."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def noisy_image(seed: int, size=(512, 320)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.asarray(smooth_image(seed, size), dtype=np.float64)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def cand(path: str, w: int, h: int, package: str = "pkg", sha: str | None = None, **kw):
    c = scan.Candidate(package, path, Path("/nonexistent") / path, w, h, sha or f"sha-{path}")
    for k, v in kw.items():
        setattr(c, k, v)
    return c


class TestSizeGroups:
    def test_plasma_sizes_share_a_key(self):
        a = scan.size_group_key("usr/share/wallpapers/Autumn/contents/images/1920x1080.jpg")
        b = scan.size_group_key("usr/share/wallpapers/Autumn/contents/images/2560x1600.jpg")
        assert a == b == "usr/share/wallpapers/Autumn"

    def test_dark_variant_is_a_different_picture(self):
        key = scan.size_group_key("usr/share/wallpapers/Flow/contents/images_dark/5120x2880.jpg")
        assert key == "usr/share/wallpapers/Flow-dark"

    def test_name_with_size_suffix(self):
        keys = {
            scan.size_group_key(f"bg/mate/abstract/{n}")
            for n in ("Elephants.jpg", "Elephants_3840x2160.jpg", "Elephants_5640x3172.jpg")
        }
        assert keys == {"bg/mate/abstract/Elephants"}
        assert scan.size_group_key("bg/Wood.jpg") != scan.size_group_key("bg/Wood-l.webp")

    def test_group_keeps_largest(self):
        cands = [
            cand("w/A/contents/images/1280x800.jpg", 1280, 800),
            cand("w/A/contents/images/5120x2880.jpg", 5120, 2880),
            cand("w/A/contents/images/1080x1920.jpg", 1080, 1920),
            cand("w/B.jpg", 2000, 1000),
        ]
        kept, dropped = scan.group_sizes(cands)
        assert [c.path for c in kept] == ["w/A/contents/images/5120x2880.jpg", "w/B.jpg"]
        assert len(dropped) == 2 and all("smaller size of" in why for _, why in dropped)

    def test_ids_are_unique(self):
        cands = [
            cand("a/x/Wood.jpg", 10, 10, "mate-backgrounds"),
            cand("a/y/Wood.png", 10, 10, "mate-backgrounds"),
        ]
        scan.assign_ids(cands)
        assert sorted(c.id for c in cands) == ["mate/x-Wood", "mate/y-Wood"]
        one = [cand("a/Path/contents/images/2560x1600.jpg", 10, 10, "plasma-workspace-wallpapers")]
        scan.assign_ids(one)
        assert one[0].id == "plasma/Path"


class TestDedupe:
    def _with_thumb(self, c, im):
        c.thumb = dedupe.gray_thumb(im)
        return c

    def test_resize_and_color_grade_are_duplicates(self):
        base = smooth_image(1, (640, 400))
        resized = base.resize((320, 200), Image.Resampling.LANCZOS)
        graded = Image.fromarray((np.asarray(base) * [0.9, 1.0, 1.1]).clip(0, 255).astype(np.uint8))
        other = smooth_image(2, (640, 400))
        cands = [
            self._with_thumb(cand("big.png", 640, 400, id="p/big"), base),
            self._with_thumb(cand("small.png", 320, 200, id="p/small"), resized),
            self._with_thumb(cand("graded.png", 640, 400, id="p/graded"), graded),
            self._with_thumb(cand("other.png", 640, 400, id="p/other"), other),
        ]
        kept, dropped = dedupe.dedupe(cands)
        assert [c.id for c in kept] == ["p/big", "p/other"]
        assert {c.id for c, _ in dropped} == {"p/small", "p/graded"}

    def test_exact_hash_duplicate(self):
        im = smooth_image(3)
        a = self._with_thumb(cand("a.png", 320, 200, sha="same", id="p/a"), im)
        b = self._with_thumb(cand("b.png", 320, 200, sha="same", id="p/b"), smooth_image(4))
        kept, dropped = dedupe.dedupe([b, a])
        assert [c.id for c in kept] == ["p/a"]  # equal pixels: the first id stays
        assert "same file as p/a" in dropped[0][1]

    def test_light_and_dark_variants_are_kept(self):
        base = np.asarray(smooth_image(5), dtype=np.float64)
        dark = Image.fromarray((base * 0.35).astype(np.uint8))
        a = self._with_thumb(cand("l.png", 320, 200, id="p/l"), Image.fromarray(base.astype(np.uint8)))
        b = self._with_thumb(cand("d.png", 320, 200, id="p/d"), dark)
        kept, _ = dedupe.dedupe([a, b])
        assert len(kept) == 2

    def test_flat_thumbnails(self):
        flat = np.full((16, 16), 100, np.uint8)
        assert dedupe.thumb_distance(flat, flat) == (0.0, 1.0)
        assert not dedupe.is_near_duplicate(flat, np.full((16, 16), 180, np.uint8))


class TestClassify:
    def test_gradient_is_graphics_noise_is_photo(self):
        ramp = np.linspace(40, 90, 512)[None, :, None].repeat(320, 0).repeat(3, 2).astype(np.uint8)
        f_flat = classify.image_features(Image.fromarray(ramp), lossless=False)
        f_noisy = classify.image_features(noisy_image(0), lossless=False)
        assert classify.classify(f_flat) == "graphics"
        assert classify.classify(f_noisy) == "photo"
        assert f_flat["flat"] > f_noisy["flat"]

    def test_lossless_is_graphics(self):
        assert classify.classify(classify.image_features(noisy_image(1), lossless=True)) == "graphics"

    def test_overrides_are_valid(self):
        assert set(classify.KIND_OVERRIDES.values()) <= {"photo", "graphics"}


class TestSplit:
    IMAGES = [
        {"id": "a/p1", "package": "a", "kind": "photo", "size": [4000, 3000]},
        {"id": "a/p2", "package": "a", "kind": "photo", "size": [3000, 2000]},
        {"id": "a/p3", "package": "a", "kind": "photo", "size": [2000, 3000]},
        {"id": "b/p4", "package": "b", "kind": "photo", "size": [2880, 2160]},
        {"id": "b/wide", "package": "b", "kind": "photo", "size": [5120, 2880]},  # 2560x1440 after cap
        {"id": "b/small", "package": "b", "kind": "photo", "size": [1920, 1080]},
        {"id": "c/art", "package": "c", "kind": "graphics", "size": [4096, 4096]},
    ]

    def test_deterministic_and_order_free(self):
        first = split.choose_eval_hr(self.IMAGES, preferred=())
        for seed in range(5):
            shuffled = copy.deepcopy(self.IMAGES)
            random.Random(seed).shuffle(shuffled)
            assert split.choose_eval_hr(shuffled, preferred=()) == first
        assert len(first) == 4 and first == sorted(first)
        assert not {"b/wide", "b/small", "c/art"} & set(first)
        assert {"a", "b"} <= {i.split("/")[0] for i in first}  # packages spread before repeating

    def test_preferred_first_and_ineligible_ignored(self):
        got = split.choose_eval_hr(self.IMAGES, preferred=("b/p4", "c/art", "zz/missing"), count=2)
        assert "b/p4" in got and "c/art" not in got and len(got) == 2

    def test_eligibility(self):
        assert split.eval_hr_eligible(4224, 3168)
        assert split.eval_hr_eligible(2560, 3837)
        assert not split.eval_hr_eligible(5312, 2988)  # 16:9: 2560x1440 < 2048^2 pixels
        assert not split.eval_hr_eligible(2000, 2000)


DEP5 = """Format: copyright-format 1.0
Upstream-Name: demo

Files: *
Copyright: 2014 Somebody
License: GPL-2+

Files: abstract/Silk.png
       abstract/Spring.png
Copyright: 2008, Patryk
License: LGPL-2+

Files: 16.04/Bridge_by_X.jpg
Copyright: 2018, X
License: CC-BY-SA-4.0

Files: debian/*
Copyright: 2020, Packager
License: MIT
"""

FREEFORM = """Copyright:
    Copyright 2011 Jakub

Image Authors:

 - adwaita*
 - other.jpg:
   Copyright 2011 Jakub Steiner
   Licensed under Creative Commons Attribution-ShareAlike 3.0 License.

Licenses:
   GNU General Public License, version 2 or later.

Creative Commons Attribution-ShareAlike 3.0 License:
   legal text
"""


class TestLicenses:
    def test_dep5(self):
        rules, overall = licenses.parse_copyright(DEP5)
        assert overall == ["GPL-2+"]
        lic = licenses.license_for("usr/share/backgrounds/mate/abstract/Spring.png", rules, overall)
        assert lic == {"license": "LGPL-2+", "license_scope": "per-file", "copyright": "2008, Patryk"}
        # upstream folder differs from the installed one: matched by file name
        assert (
            licenses.license_for("usr/share/backgrounds/Bridge_by_X.jpg", rules, overall)["license"]
            == "CC-BY-SA-4.0"
        )
        other = licenses.license_for("usr/share/wallpapers/A/contents/images/1x1.jpg", rules, overall)
        assert other["license"] == "GPL-2+" and other["license_scope"] == "package-wide"

    def test_freeform(self):
        rules, overall = licenses.parse_copyright(FREEFORM)
        assert overall == ["CC-BY-SA-3.0", "GPL-2+"]
        lic = licenses.license_for("usr/share/backgrounds/gnome/adwaita-d.webp", rules, overall)
        assert lic["license"] == "CC-BY-SA-3.0" and lic["license_scope"] == "per-file"
        assert "Jakub Steiner" in lic["copyright"]
        unlisted = licenses.license_for("usr/share/backgrounds/gnome/grid-l.webp", rules, overall)
        assert unlisted == {
            "license": "CC-BY-SA-3.0 OR GPL-2+",
            "license_scope": "package-wide",
            "copyright": "",
        }


class TestExtraPackages:
    def test_expand_named_set_commas_and_repeats(self):
        got = packages.expand_packages(["a,b", " photos ", "b", ","])
        assert got == ["a", "b", *packages.EXTRA_PHOTO_PACKAGES]
        assert packages.expand_packages(packages.PACKAGES) == list(packages.PACKAGES)

    def test_default_run_has_no_extra_packages(self):
        opt = next(p for p in prepare_command.params if p.name == "extra_packages")
        assert opt.default == ()
        assert not set(packages.EXTRA_PHOTO_PACKAGES) & set(packages.PACKAGES)

    def test_extra_overrides_leave_the_default_ones_alone(self):
        assert set(classify.EXTRA_KIND_OVERRIDES.values()) <= {"photo", "graphics"}
        assert not set(classify.EXTRA_KIND_OVERRIDES) & set(classify.KIND_OVERRIDES)
        extra = packages.EXTRA_PHOTO_PACKAGES + packages.ARCHIVED_PHOTO_PACKAGES
        extra_aliases = {packages.PACKAGE_ALIASES.get(p, p) for p in extra}
        assert {i.split("/")[0] for i in classify.EXTRA_KIND_OVERRIDES} <= extra_aliases

    @pytest.mark.parametrize(
        "lic, free",
        [
            ("CC0-1.0", True),
            ("CC-BY-4.0", True),
            ("CC-BY-SA-3.0", True),
            ("GPL-2+", True),
            ("LGPL-2.1+", True),
            ("public-domain", True),
            ("BSD-3-Clause", True),
            ("Expat", True),
            ("CC-BY-SA-3.0 OR GPL-2+", True),
            ("GFDL", False),
            ("GFDL-1.2+ OR CC-BY-NC-4.0", False),
            ("CC-BY-NC-SA-4.0", False),
            ("CC-BY-ND-4.0", False),
            ("unknown", False),
            ("", False),
        ],
    )
    def test_free_license(self, lic, free):
        assert licenses.is_free_license(lic) is free

    def test_only_free_photos_are_added(self):
        photo = cand("x.jpg", 3000, 2000, kind="photo")
        art = cand("y.png", 3000, 2000, kind="graphics")
        assert split.extra_drop_reason(photo, "CC-BY-SA-3.0") is None
        assert "graphics" in split.extra_drop_reason(art, "CC0-1.0")
        assert "GFDL" in split.extra_drop_reason(photo, "GFDL")

    def test_extra_package_never_replaces_a_default_image(self):
        im = smooth_image(7, (640, 400))
        base = cand("a.jpg", 1920, 1200, "pkg", id="p/a", thumb=dedupe.gray_thumb(im))
        bigger = cand("b.jpg", 3840, 2400, "more", id="more/b", thumb=dedupe.gray_thumb(im))
        kept, dropped = dedupe.dedupe([base, bigger], late=frozenset({"more"}))
        assert [c.id for c in kept] == ["p/a"] and dropped[0][0].id == "more/b"
        kept, _ = dedupe.dedupe([base, bigger])  # without late: most pixels win
        assert [c.id for c in kept] == ["more/b"]

    def test_extra_ids_never_rename_default_ones(self):
        a = cand("usr/share/backgrounds/Sea.jpg", 10, 10, "lomiri-wallpapers-16.04")
        b = cand("usr/share/backgrounds/Sea.jpg", 10, 10, "lomiri-wallpapers-20.04")
        scan.assign_ids([a, b], late=frozenset({"lomiri-wallpapers-20.04"}))
        assert (a.id, b.id) == ("lomiri/Sea", "lomiri-wallpapers-20.04/Sea")
        scan.assign_ids([a, b])  # without late, both get the parent folder
        assert a.id == b.id == "lomiri/backgrounds-Sea"

    def test_license_rules_beside_the_copyright_file(self):
        copyright_file = (
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: 2012-2022 LXQt team\nLicense: LGPL-2.1+\n\n"
            "Files: wallpapers/kde-plasma.png\nCopyright: 2014, Nuno\nLicense: LGPL-3\n"
        )
        rules, overall = licenses.parse_copyright(copyright_file)
        rules += licenses.EXTRA_LICENSE_RULES["lxqt-themes"]
        beam = licenses.license_for("usr/share/lxqt/wallpapers/beam.png", rules, overall)
        assert beam["license"] == "CC-BY-SA-3.0" and beam["license_scope"] == "per-file"
        assert "stefonarch" in beam["copyright"]
        assert licenses.license_for("usr/share/lxqt/wallpapers/kde-plasma.png", rules, overall)[
            "license"
        ] == ("LGPL-3")
        assert licenses.license_for("usr/share/lxqt/themes/x.png", rules, overall)["license"] == "LGPL-2.1+"
        for package, extra_rules in licenses.EXTRA_LICENSE_RULES.items():
            assert package in packages.EXTRA_PHOTO_PACKAGES
            assert all(globs and lic and who for globs, lic, who in extra_rules)


class TestPixels:
    def test_resize_never_upscales(self):
        im = Image.new("RGB", (300, 200))
        assert pixels.resize_long_side(im, 1536) is im
        assert pixels.resize_long_side(Image.new("RGB", (3000, 1000)), 1536).size == (1536, 512)
        assert pixels.resize_long_side(Image.new("RGB", (1000, 3000)), 1536).size == (512, 1536)

    def test_jpeg_is_444_and_deterministic(self):
        im = noisy_image(2, (96, 64))
        a, b = pixels.encode_jpeg(im, 95), pixels.encode_jpeg(im, 95)
        assert a == b
        assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(a))) == 0  # 4:4:4

    def test_transparency_flattened(self):
        im = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
        assert pixels.to_rgb(im).getpixel((0, 0)) == (128, 128, 128)
        assert pixels.to_rgb(Image.new("L", (2, 2), 7)).mode == "RGB"


class TestPackAndScan:
    def test_scan_skips_symlinks_and_non_rasters(self, tmp_path):
        d = tmp_path / "usr/share/backgrounds"
        d.mkdir(parents=True)
        smooth_image(0).save(d / "a.png")
        (d / "b.svg").write_text("<svg/>")
        (d / "c.jpg").symlink_to("a.png")
        found, links = scan.scan_package(tmp_path, "pkg")
        assert [c.path for c in found] == ["usr/share/backgrounds/a.png"] and links == 1
        assert (found[0].width, found[0].height) == (320, 200)

    def test_scan_records_unreadable_files(self, tmp_path):
        d = tmp_path / "usr/share/x"
        d.mkdir(parents=True)
        (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        with pytest.raises(OSError):
            scan.scan_package(tmp_path, "pkg")
        bad: list = []
        found, _ = scan.scan_package(tmp_path, "pkg", bad)
        assert found == [] and [(c.path, c.width, c.height) for c in bad] == [
            ("usr/share/x/broken.png", 0, 0)
        ]

    def test_pack_shrinks_to_budget_and_is_reproducible(self, tmp_path):
        cands = []
        for i in range(3):
            f = tmp_path / f"src{i}.png"
            noisy_image(i, (640, 400)).save(f)
            cands.append(cand(f.name, 640, 400, id=f"t/img{i}", file=f))
        entries, side = pack.build_pack(cands, tmp_path / "pack", 640, 95, budget=200_000)
        total = sum(e["bytes"] for e in entries.values())
        assert side < 640 and total <= 200_000
        assert all(max(e["size"]) <= side for e in entries.values())
        again, _ = pack.build_pack(cands, tmp_path / "pack2", 640, 95, budget=200_000)
        assert [e["sha256"] for e in again.values()] == [e["sha256"] for e in entries.values()]


class TestManifest:
    def _manifest(self):
        c = cand("usr/x.jpg", 3000, 2000, "lomiri-wallpapers-16.04", id="lomiri/x", kind="photo")
        c.features = {"flat": 0.1}
        d = cand("usr/y.jpg", 3000, 2000, "lomiri-wallpapers-16.04", id="lomiri/y", kind="graphics")
        lic = {"license": "CC0-1.0", "license_scope": "per-file", "copyright": "X"}
        f = {"file": "f.jpg", "bytes": 10, "size": [10, 10], "sha256": "0" * 64}
        images = [
            manifest.image_record(c, "1.0", lic, "eval_hr", f | {"file": "x.png"}),
            manifest.image_record(d, "1.0", lic, "train", f),
        ]
        ev = dict.fromkeys(manifest.EVAL_KEYS, "v")
        return {"version": manifest.MANIFEST_VERSION, "images": images, "eval": [ev]}

    def test_valid(self):
        m = self._manifest()
        manifest.validate_manifest(m)
        x, y = m["images"]
        assert x["pack_file"] is None and x["eval_file"] == "x.png"
        assert y["pack_file"] == "f.jpg" and y["eval_file"] is None

    @pytest.mark.parametrize(
        "break_it",
        [
            lambda m: m["images"][0].update(kind="painting"),
            lambda m: m["images"][1].update(split="test"),
            lambda m: m["images"][1].update(pack_file=None),
            lambda m: m["images"][1].pop("license"),
            lambda m: m["images"].reverse(),
            lambda m: m["images"][1].update(pack_sha256="xyz"),
            lambda m: m.update(version=99),
        ],
    )
    def test_invalid(self, break_it):
        m = self._manifest()
        break_it(m)
        with pytest.raises(ValueError):
            manifest.validate_manifest(m)

    def test_committed_manifest_is_valid(self):
        committed = Path(__file__).resolve().parents[1] / "docs" / "data_manifest.json"
        if not committed.is_file():
            pytest.skip("docs/data_manifest.json not built yet")
        m = json.loads(committed.read_text())
        manifest.validate_manifest(m)
        held = {d["id"] for d in m["images"] if d["split"] == "eval_hr"}
        assert len(held) == split.EVAL_HR_COUNT
        assert not held & {d["id"] for d in m["images"] if d["pack_file"]}


class TestSelectionSet:
    def _data(self, tmp_path: Path) -> Path:
        data = tmp_path / "data"
        (data / "eval_hr").mkdir(parents=True)
        (data / "eval").mkdir()
        noisy_image(1, (2048, 1200)).save(data / "eval_hr" / "big.png")
        for name in selection_set.TEXTURES:
            noisy_image(2, (512, 512)).save(data / "eval" / name)
        return data

    def test_downscales_held_out_photos_and_copies_textures(self, tmp_path):
        photos, mb = selection_set.write_selection_set(self._data(tmp_path), tmp_path / "select")
        assert photos == 1 and mb > 0
        with Image.open(tmp_path / "select" / "big.jpg") as im:
            assert im.size == (1024, 600) and im.format == "JPEG"
        assert sorted(p.name for p in (tmp_path / "select").glob("*.png")) == sorted(selection_set.TEXTURES)

    def test_missing_inputs_say_what_to_run(self, tmp_path):
        with pytest.raises(DataError, match="dicodec data prepare"):
            selection_set.write_selection_set(tmp_path / "nothing", tmp_path / "x")
        data = self._data(tmp_path)
        (data / "eval" / selection_set.TEXTURES[0]).unlink()
        with pytest.raises(DataError, match=selection_set.TEXTURES[0]):
            selection_set.write_selection_set(data, tmp_path / "x")
        assert not (tmp_path / "x").exists()  # nothing written on failure


class TestArchivedPhotos:
    """The photos that gcompris-qt-data and enlightenment-data keep inside application archives."""

    def test_unpack_writes_archive_images_where_the_copyright_globs_match(self, tmp_path):
        from test_training_archives import JPEG, WEBP, build_eet, build_rcc

        rcc = tmp_path / "gc" / "usr/share/gcompris-qt/rcc"
        rcc.mkdir(parents=True)
        (rcc / "erase.rcc").write_bytes(build_rcc([("bird.webp", WEBP, 0), ("Block.qml", b"Item {}", 0)]))
        (rcc / "lang.rcc").write_bytes(build_rcc([("apple.webp", WEBP, 0)]))  # word-card drawings
        assert scan.unpack_archives(tmp_path / "gc", "gcompris-qt-data") == 1
        assert (tmp_path / "gc" / "res/bird.webp").read_bytes() == WEBP
        assert not (tmp_path / "gc/res/Block.qml").exists()
        assert not (tmp_path / "gc/res/apple.webp").exists()
        edj = tmp_path / "en" / "usr/share/enlightenment/data/backgrounds"
        edj.mkdir(parents=True)
        (edj / "Peaks.edj").write_bytes(build_eet([("edje/images/0", JPEG), ("edje/images/1", JPEG * 3)]))
        assert scan.unpack_archives(tmp_path / "en", "enlightenment-data") == 1
        assert (edj / "Peaks.jpg").read_bytes() == JPEG * 3  # the largest image of the background
        assert scan.unpack_archives(tmp_path / "en", "mate-backgrounds") == 0
        rule = [(["src/activities/erase/*"], "CC-BY-SA-4.0", "someone")]
        found = licenses.license_for("gcompris/src/activities/erase/bird.webp", rule, [])
        assert found["license"] == "CC-BY-SA-4.0"

    def test_lossy_webp_counts_as_a_camera_format_only_for_gcompris(self, tmp_path):
        lossy, lossless = tmp_path / "a.webp", tmp_path / "b.webp"
        noisy_image(0).save(lossy, "WEBP", quality=80)
        noisy_image(0).save(lossless, "WEBP", lossless=True)
        assert not classify.is_lossless_file(lossy, "gcompris-qt-data")
        assert classify.is_lossless_file(lossless, "gcompris-qt-data")
        assert classify.is_lossless_file(lossy, "gnome-backgrounds")  # the default packs' rule is unchanged

    def test_gcompris_is_packed_at_half_size_but_never_below_the_short_side_floor(self):
        assert pack.pack_long_side(cand("a.webp", 1920, 1080, "gcompris-qt-data"), 1536) == 960
        small = cand("b.webp", 800, 600, "gcompris-qt-data")
        assert pack.pack_long_side(small, 1536) == round(800 * pack.PACK_MIN_SHORT_SIDE / 600)
        assert pack.pack_long_side(cand("c.webp", 680, 450, "gcompris-qt-data"), 1536) == 680
        assert pack.pack_long_side(cand("d.jpg", 4000, 3000, "mate-backgrounds"), 1536) == 1536
        assert scan.min_pixels("gcompris-qt-data") < scan.min_pixels("mate-backgrounds") == scan.MIN_PIXELS


class TestMixPack:
    def test_shards_fit_the_limit_and_hold_every_image_once(self):
        chosen = {
            "photo": [{"pack_file": f"p{i}.jpg", "pack_bytes": 40 + i} for i in range(6)],
            "graphics": [{"pack_file": f"g{i}.jpg", "pack_bytes": 30} for i in range(2)],
        }
        parts = mix_pack.shards(chosen, 100)
        assert all(sum(i["pack_bytes"] for g in p.values() for i in g) <= 100 for p in parts)
        assert [i["pack_file"] for i in parts[0]["graphics"]] == ["g0.jpg", "g1.jpg"]
        files = sorted(i["pack_file"] for p in parts for g in p.values() for i in g)
        assert files == sorted(i["pack_file"] for g in chosen.values() for i in g)
        with pytest.raises(DataError, match="alone"):
            mix_pack.shards({"photo": [{"pack_file": "big.jpg", "pack_bytes": 101}], "graphics": []}, 100)

    def test_every_train_photo_and_every_second_graphic_within_budget(self):
        def rec(name, kind, size, split="train"):
            return {"pack_file": name, "kind": kind, "pack_bytes": size, "split": split}

        images = [rec(f"g{i}.jpg", "graphics", 10) for i in range(8)]
        images += [
            rec("p0.jpg", "photo", 50),
            rec("p1.jpg", "photo", 50),
            rec("e.png", "photo", 1, "eval_hr"),
        ]
        chosen = mix_pack.choose(images, graphics_bytes=25)
        assert [i["pack_file"] for i in chosen["photo"]] == ["p0.jpg", "p1.jpg"]
        assert [i["pack_file"] for i in chosen["graphics"]] == ["g0.jpg", "g2.jpg"]

    def test_writes_the_folders_and_names_a_missing_pack_file(self, tmp_path):
        packdir = tmp_path / "pack"
        packdir.mkdir()
        images = []
        for name, kind in (("a.jpg", "photo"), ("b.jpg", "graphics"), ("c.jpg", "photo")):
            (packdir / name).write_bytes(b"x" * 40)
            images.append({"pack_file": name, "kind": kind, "pack_bytes": 40, "split": "train"})
        manifest_file = tmp_path / "manifest.json"
        manifest_file.write_text(json.dumps({"images": images}))
        roots = mix_pack.write_mix_pack(packdir, manifest_file, tmp_path / "one", graphics_bytes=100)
        assert roots == [tmp_path / "one"]
        assert sorted(p.relative_to(roots[0]).as_posix() for p in roots[0].rglob("*.jpg")) == [
            "graphics/b.jpg", "photo/a.jpg", "photo/c.jpg",
        ]  # fmt: skip
        roots = mix_pack.write_mix_pack(packdir, manifest_file, tmp_path / "parts", 100, shard_bytes=80)
        assert [r.name for r in roots] == ["part-1", "part-2"]
        (packdir / "c.jpg").unlink()
        with pytest.raises(DataError, match="c.jpg is missing"):
            mix_pack.write_mix_pack(packdir, manifest_file, tmp_path / "again", graphics_bytes=100)


def test_contact_sheet_pairs_every_kind_of_duplicate_with_the_image_that_stays(tmp_path):
    """Exact copies ("same file as") and near-duplicates are both drawn beside the image that stays."""
    ids = ("p/a", "p/b", "p/c")
    kept = [cand(f"{i}.jpg", 320, 200, id=i, kind="photo", features={"flat": 0.1}) for i in ids[:1]]
    previews = {i: smooth_image(n) for n, i in enumerate(ids)}
    dups = [
        (cand("b.jpg", 320, 200, id="p/b"), "same file as p/a"),
        (cand("c.jpg", 320, 200, id="p/c"), "near-duplicate of p/a (thumb MAD 3.0, corr 0.990)"),
    ]
    contact_sheet.write_contact_sheets(tmp_path, kept, dups, previews, eval_hr_ids=set())
    with Image.open(tmp_path / "contact_sheet_dropped.png") as im:
        assert im.size == (4 * 240, 1 * (240 + 32))  # two pairs in one row of four cells

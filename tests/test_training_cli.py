"""The trainers' command lines: options built from the configs, examples that run, defaults that follow
the registry, and help texts that say what an option does."""

from __future__ import annotations

import dataclasses
import shlex
from types import ModuleType

import click
import pytest
from click.testing import CliRunner
from conftest import load_script

from dicodec.codec import registry
from dicodec.codec.training import train, train_dit


def _command(module: ModuleType, words: list[str]) -> click.Command:
    """The click command a ``-m module [subcommand]`` example runs."""
    if module is train:
        return train.train_command
    return train_dit.cli.commands[words[0]]


def _examples(module: ModuleType) -> list[list[str]]:
    """Every ``python -m X ...`` / ``torchrun ... -m X ...`` / ``dicodec train ...`` line of the module
    docstring and of the commands' help, as argument lists after the module name."""
    commands = [train.train_command] if module is train else list(train_dit.cli.commands.values())
    found = []
    for text in [module.__doc__ or ""] + [c.help or "" for c in commands]:
        for line in text.replace("\\\n", " ").splitlines():
            if "-m dicodec." not in line and "dicodec train" not in line:
                continue
            words = shlex.split(line, comments=True)
            if "-m" in words and words[words.index("-m") + 1].startswith("dicodec."):
                target, args = words[words.index("-m") + 1], words[words.index("-m") + 2 :]
                assert target == module.__name__, f"{line!r} runs {target}, not {module.__name__}"
                found.append(args)
            elif words[:2] == ["dicodec", "train"] and module is train:
                found.append(words[2:])
    return found


@pytest.mark.parametrize("module", [train, train_dit], ids=["train", "train_dit"])
def test_documented_examples_name_real_options(module):
    """The examples in the trainers' docstrings used ``--preset``, an option that does not exist
    (``--config`` is), and ``python -m`` paths break when a module moves."""
    examples = _examples(module)
    assert len(examples) >= 3
    for args in examples:
        command = _command(module, args)
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for word in args:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"{module.__name__}: {word} is not an option of {args}"


@pytest.mark.parametrize(
    ("config", "command"),
    [(train.TrainConfig, train.train_command), (train_dit.DitTrainConfig, train_dit.cli.commands["train"])],
    ids=["train", "train_dit"],
)
def test_every_documented_config_field_is_an_option_with_its_help(config, command):
    """One way to build both trainers' options (``training.options``): by hand in one and by a regular
    expression over its own source in the other before."""
    params = {p.name: p for p in command.params}
    documented = [f for f in dataclasses.fields(config) if "help" in f.metadata]
    assert len(documented) >= 20
    for f in documented:
        assert f.name in params, f.name
        assert params[f.name].help == f.metadata["help"] and params[f.name].default is None
    preset_only = {f.name for f in dataclasses.fields(config)} - {f.name for f in documented}
    assert preset_only <= {"preset", "disc_widths"}


def test_options_override_only_what_is_given(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(train, "main", lambda cfg, resume=False: seen.setdefault("cfg", cfg) and {})
    result = CliRunner().invoke(
        train.train_command, ["--config", "tiny", "--steps", "3", "--no-guard-nonfinite", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    expected = dataclasses.replace(train.TRAIN_PRESETS["tiny"], steps=3, guard_nonfinite=False, device="cpu")
    assert seen["cfg"] == expected


def test_dit_training_and_latent_scripts_default_to_the_registry_default_codec(monkeypatch):
    """The frozen codec defaulted to a hard-coded ``"hp32-v6"`` in train_dit.py, latent_stats.py and
    transform_ceiling.py; the default follows the registry's now, so a new default needs no edit."""
    monkeypatch.setattr(registry, "default_name", lambda: "hp32-v99")
    assert train_dit.DitTrainConfig().codec == "hp32-v99"
    for command in (train_dit.cli.commands["sample"], train_dit.cli.commands["compare"]):
        codec = next(p for p in command.params if p.name == "codec_spec")
        assert codec.get_default(click.Context(command), call=True) == "hp32-v99"
    for script, option in (("latent_stats", "codec_spec"), ("transform_ceiling", "model")):
        command = load_script(script).main
        param = next(p for p in command.params if p.name == option)
        assert param.get_default(click.Context(command), call=True) == "hp32-v99", script

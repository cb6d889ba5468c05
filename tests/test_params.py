"""Parameters cells parse into typed knobs, and -p overrides are checked against them."""
import pytest

from lab.chapters import ChapterError, Parameter, parse_parameters
from lab.params import convert, resolve_overrides

CELL = '''scale: str = "book"  # tier
seed: int = 0  # base seed
rate: float = 0.5  # a rate
trials: int | None = None  # None: tier preset
sizes: list[int] | None = None  # sketch sizes
label: str = "x"  # free text
'''


def test_parse_reads_type_default_and_help():
    params = parse_parameters(CELL)
    assert list(params) == ["scale", "seed", "rate", "trials", "sizes", "label"]
    assert params["trials"] == Parameter("trials", "int | None", None, "None: tier preset")
    assert params["rate"].default == 0.5 and params["seed"].help == "base seed"


def test_parse_refuses_unannotated_lines_and_missing_scale():
    with pytest.raises(ChapterError, match="name: type = value"):
        parse_parameters('scale: str = "book"\nseed = 0\n')
    with pytest.raises(ChapterError, match="scale"):
        parse_parameters("seed: int = 0\n")


@pytest.mark.parametrize("name, raw, expected", [
    ("seed", "3", 3), ("rate", "2", 2.0), ("rate", "1e-3", 1e-3), ("trials", "None", None),
    ("trials", "40", 40), ("sizes", "[100, 200]", [100, 200]), ("label", "hello", "hello"),
    ("label", "3", "3"), ("scale", "smoke", "smoke"),
])
def test_convert_accepts_values_of_the_declared_type(name, raw, expected):
    value = convert(parse_parameters(CELL)[name], raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("name, raw", [
    ("seed", "x"), ("seed", "2.5"), ("seed", "True"), ("rate", "fast"), ("sizes", "[1, 'a']"),
    ("scale", "huge"),
])
def test_convert_names_the_parameter_and_type_on_bad_values(name, raw):
    with pytest.raises(ChapterError, match=name if name != "scale" else "smoke, book, full"):
        convert(parse_parameters(CELL)[name], raw)


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(ChapterError, match="unknown parameter 'sed'.*scale, seed, rate"):
        resolve_overrides(parse_parameters(CELL), {"sed": "3"})


def test_config_checks_name_parameter_value_and_range():
    from dataclasses import dataclass

    from lab.tiers import ParameterError, at_least, each, nonempty, resolve_config

    @dataclass(frozen=True)
    class C:
        scale: str
        n: int = 3
        m: tuple = (1, 2)

    presets = {"smoke": {}, "book": {}, "full": {}}
    checks = {"n": at_least(1), "m": nonempty & each(at_least(1))}
    assert resolve_config(C, presets, "smoke", {"n": 2}, checks).n == 2
    with pytest.raises(ParameterError, match="'n' = 0"):
        resolve_config(C, presets, "smoke", {"n": 0}, checks)
    with pytest.raises(ParameterError, match="non-empty"):
        resolve_config(C, presets, "smoke", {"m": []}, checks)

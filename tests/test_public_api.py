from __future__ import annotations

import tercet


def test_all_is_sorted_and_complete() -> None:
    assert tercet.__all__ == sorted(tercet.__all__), "keep tercet.__all__ sorted"
    for name in tercet.__all__:
        assert hasattr(tercet, name), f"tercet.__all__ names {name!r} but it is not exported"
    public = {n for n in vars(tercet) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(tercet, n)).__name__ == "module"}
    missing = public - modules - set(tercet.__all__) - {"annotations"}
    assert not missing, f"public names missing from __all__: {sorted(missing)}"


def test_every_error_derives_from_tercet_error() -> None:
    for name in dir(tercet.errors):
        obj = getattr(tercet.errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == "tercet.errors"
        ):
            assert issubclass(obj, tercet.TercetError), name

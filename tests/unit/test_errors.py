"""The error hierarchy: one home (errors.py), and every error survives the trip from a replay
worker process to its parent (pickle) whole, whatever its __init__ takes."""

import inspect
import pickle

from ingestctl import errors


def every_error_class() -> list[type]:
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, errors.IngestError)]


def test_every_error_pickles_whole():
    made = {
        errors.InvalidRecordError: lambda: errors.InvalidRecordError("bad", "corrupt-payload", 7),
        errors.UnknownSchemaError: lambda: errors.UnknownSchemaError("no schema 7", 7),
        errors.IncompleteReplay: lambda: errors.IncompleteReplay("stopped", {"records": 3}),
    }
    for cls in every_error_class():
        error = made.get(cls, lambda cls=cls: cls("what went wrong", ["a detail"]))()
        error.details = ["a detail"]
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is cls
        assert back.message == error.message and str(back) == str(error)
        assert back.details == ["a detail"]
        assert back.exit_code == cls.exit_code
        assert vars(back) == vars(error)


def test_errors_defined_elsewhere_do_not_exist():
    """Every IngestError subclass in the package is one of errors.py's."""
    import importlib
    import pkgutil

    import ingestctl

    known = set(every_error_class())
    for module in pkgutil.walk_packages(ingestctl.__path__, "ingestctl."):
        if module.name.endswith("__main__"):
            continue
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, errors.IngestError):
                assert cls in known, f"{cls.__module__}.{cls.__name__} is not in errors.py"

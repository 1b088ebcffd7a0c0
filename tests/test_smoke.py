import batchbridge


def test_version() -> None:
    assert batchbridge.__version__

"""A private library, published through oci-pypi."""

from importlib.metadata import version

__version__ = version("acme-greeting")


def greet(name: str) -> str:
    return f"Hello, {name}!"

"""Greetings: the houses' first piece of work."""


def greet(name: str) -> str:
    """A greeting for ``name``."""
    return f"Hello, {name}!"

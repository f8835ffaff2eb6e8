"""Tools: ``@tool`` functions, their registry, and the built-in tool set."""

"""Command-line commands of ``python -m sambook``: each module provides ``add_arguments(parser)`` and
``main(args) -> int``, and is registered in :data:`sambook.__main__.COMMANDS`."""

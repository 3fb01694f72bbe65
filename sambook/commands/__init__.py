"""The command line, ``python -m sambook <command>``: one thin module per command, each with
``add_arguments(parser)`` and ``main(args) -> int``, calling library functions. No library module imports these."""

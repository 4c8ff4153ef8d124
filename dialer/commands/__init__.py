"""Sub-commands of `dialer`: one module each, with ``register(subparsers)``."""

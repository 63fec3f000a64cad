"""Build configuration beyond pyproject.toml: the optional C accelerator.

``websocket_ref._speedups`` speeds up masking; it's optional: where no C compiler
(or no Python headers) is available, the build goes on without it and
``websocket_ref.masking`` falls back to pure Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "websocket_ref._speedups",
            sources=["websocket_ref/_speedups.c"],
            optional=True,
        )
    ]
)

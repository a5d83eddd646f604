"""The one compiled part: the media fast path's fan-out loop (optional: without a C compiler,
``podium.media.fastpath`` runs the same loop in Python). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "podium.media._fanout",
            ["src/podium/media/_fanout.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)

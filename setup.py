"""The one compiled part: the screening kernel (services/matcher/screening/_kernel.c). The
rest of the project's metadata is in pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "services.matcher.screening._kernel", ["services/matcher/screening/_kernel.c"],
    # no fused multiply-add: the kernel's floating-point results must be Python's, bit for bit
    extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"])])

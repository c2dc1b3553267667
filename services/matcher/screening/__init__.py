"""Screening: does a report point at a listed illegal agency or trafficker, and does its ad
read like trafficking? Used by the streaming matcher and by `waspada screen`."""


def __getattr__(name):  # the engine (and its kernel) load on first use, not on importing a helper module
    if name in ("DEFAULT_THRESHOLD", "Screening", "ScreeningEngine"):
        from services.matcher.screening import engine
        return getattr(engine, name)
    raise AttributeError(name)

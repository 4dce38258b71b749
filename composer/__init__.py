"""composer: a symbolic music composition toolkit."""
__version__ = "0.1.0"

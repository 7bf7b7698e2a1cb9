"""The FFmpeg engine: probing, argument builders, cut planning, normalisation, this
FFmpeg's capabilities and the one runner. Plain Python that imports nothing from Django:
it takes and returns plain values; what it needs of the machine is in tools.py."""

"""The media plane. The only package that imports aiortc."""

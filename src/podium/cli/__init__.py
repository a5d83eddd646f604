"""Command line: ``podium serve | migrate | invite | admin | bot``."""

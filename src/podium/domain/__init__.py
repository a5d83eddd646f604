"""Pure room rules: no I/O, no asyncio, time passed in."""

"""The Janus media engine: AudioBridge rooms on one or more Janus instances (docs/janus.md)."""

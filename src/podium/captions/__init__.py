"""Live captions: offline speech recognition of speakers who opted in (docs/captions.md).

``pipeline.Captioner`` runs in the server process: it cuts each speaker's decoded audio into
speech chunks (``segmenter``) and hands them to recogniser processes (``worker``) through a
bounded queue, never waiting; ``vtt`` stores the captions as WebVTT.
"""

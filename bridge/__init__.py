"""rtms-langflow bridge: Zoom Realtime Media Streams in, Langflow flows out."""

__version__ = "0.1.0"

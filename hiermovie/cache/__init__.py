"""The event-feature cache: stage 1 writes it (`ShardWriter`, `write_manifest`), stage 2 reads it (`EventCache`).

Stage 2 imports only this package, never `hiermovie.extract`; the files are the whole contract.
"""

from hiermovie.cache.reader import EventCache, LoadedCache, TokenWindow
from hiermovie.cache.schema import SCHEMA_VERSION, VideoInstances, VideoTokens, shard_name
from hiermovie.cache.writer import ShardWriter, finished_shards, sha256_file, write_manifest

__all__ = [
    "SCHEMA_VERSION",
    "EventCache",
    "LoadedCache",
    "ShardWriter",
    "TokenWindow",
    "VideoInstances",
    "VideoTokens",
    "finished_shards",
    "sha256_file",
    "shard_name",
    "write_manifest",
]

"""One set of codec options for every document Lifeboat decodes.

Documents must re-encode to the same bytes: keep field order (dict), keep int64 as
``Int64``, never convert UUID binaries, and accept dates outside Python's range.
"""

from __future__ import annotations

from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument

CODEC: CodecOptions = CodecOptions(
    document_class=dict,
    tz_aware=False,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
RAW_CODEC: CodecOptions = CodecOptions(
    document_class=RawBSONDocument,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)

"""Reading planners' uploads: file formats, column mapping, validation, calendars and the demo shop."""

from core.data.mapping import ColumnMapping, detect_mapping
from core.data.report import Finding, ValidationReport
from core.data.validate import LoadResult, ValidationOptions, load_sales, to_export_frame

__all__ = [
    "ColumnMapping",
    "Finding",
    "LoadResult",
    "ValidationOptions",
    "ValidationReport",
    "detect_mapping",
    "load_sales",
    "to_export_frame",
]

"""Contact import (seed 000): read a .csv or spreadsheet, validate every row, then write.

Pure parts (readers, mapping, validation, phones, template) need no database; ``importer``
writes validated records into the store.
"""

from store.importing.fields import Field
from store.importing.options import ImportOptions, TagMode, TicketPriority
from store.importing.problems import ImportProblem, ImportRejected
from store.importing.report import ImportReport

__all__ = [
    "Field",
    "ImportOptions",
    "ImportProblem",
    "ImportRejected",
    "ImportReport",
    "TagMode",
    "TicketPriority",
]

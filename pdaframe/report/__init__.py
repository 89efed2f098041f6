"""The run report, ``report.html`` (`pdaframe.report.page`): one self-contained page with
the summary, parameter table, diagnostics, figures and provenance of a run."""
from .page import Section, add_section, write_report

__all__ = ["Section", "add_section", "write_report"]

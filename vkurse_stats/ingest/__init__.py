"""Ingestion: files and HTTP bodies -> validated records -> batches -> the stores."""

from .pipeline import IngestError, Ingestor, IngestResult

__all__ = ["IngestError", "IngestResult", "Ingestor"]

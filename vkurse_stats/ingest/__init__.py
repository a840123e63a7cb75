"""Ingestion: files and HTTP bodies -> validated records -> batches -> the stores."""

from .pipeline import Actor, IngestError, Ingestor, IngestResult

__all__ = ["Actor", "IngestError", "IngestResult", "Ingestor"]
